//! What the driver checks in a result before the algorithm sees it: every float finite, and
//! the shape (the dimensions of every ndarray array in it, in order) equal to the
//! one its site settled on. A walk through the value's `Serialize` implementation: no
//! allocation but the shape, so the check costs one pass over the data. The shape of
//! `array![1.0, 2.0]` is `[2]`; `array![1.0, f64::NAN]` is refused (see the tests below).

use serde::ser::{self, Serialize};

/// The shape of a result: the dimensions of each array in it, in order.
pub(crate) type Shape = Vec<u64>;

/// The value's shape, or why it is refused.
pub(crate) fn inspect<T: Serialize + ?Sized>(value: &T) -> Result<Shape, String> {
    let mut inspector = Inspector {
        shape: Vec::new(),
        in_dim: false,
    };
    value.serialize(&mut inspector).map_err(|e| e.0)?;
    Ok(inspector.shape)
}

struct Inspector {
    shape: Shape,
    /// Inside the `dim` field of an ndarray array: integers are dimensions.
    in_dim: bool,
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl ser::Error for Refused {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Refused(msg.to_string())
    }
}

type Done = Result<(), Refused>;

impl Inspector {
    fn integer(&mut self, value: u64) -> Done {
        if self.in_dim {
            self.shape.push(value);
        }
        Ok(())
    }

    fn float(&mut self, value: f64) -> Done {
        if value.is_finite() {
            Ok(())
        } else {
            Err(Refused(format!("it holds a non-finite number ({value})")))
        }
    }
}

/// Every compound: elements are inspected in turn; a struct named `Array` (ndarray's) marks
/// its `dim` field.
struct Compound<'a> {
    inspector: &'a mut Inspector,
    array: bool,
}

impl<'a> ser::Serializer for &'a mut Inspector {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, _: bool) -> Done {
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Done {
        self.integer(v as u64)
    }
    fn serialize_i16(self, v: i16) -> Done {
        self.integer(v as u64)
    }
    fn serialize_i32(self, v: i32) -> Done {
        self.integer(v as u64)
    }
    fn serialize_i64(self, v: i64) -> Done {
        self.integer(v as u64)
    }
    fn serialize_u8(self, v: u8) -> Done {
        self.integer(v.into())
    }
    fn serialize_u16(self, v: u16) -> Done {
        self.integer(v.into())
    }
    fn serialize_u32(self, v: u32) -> Done {
        self.integer(v.into())
    }
    fn serialize_u64(self, v: u64) -> Done {
        self.integer(v)
    }
    fn serialize_f32(self, v: f32) -> Done {
        self.float(v.into())
    }
    fn serialize_f64(self, v: f64) -> Done {
        self.float(v)
    }
    fn serialize_char(self, _: char) -> Done {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Done {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Done {
        Ok(())
    }
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(false))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(false))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(false))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(false))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(false))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(name == "Array"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(false))
    }
}

impl Inspector {
    fn compound(&mut self, array: bool) -> Compound<'_> {
        Compound {
            inspector: self,
            array,
        }
    }
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut *self.inspector)
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Refused;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
                self.element(value)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}
elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Refused;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Refused;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Done {
        let dim = self.array && key == "dim";
        let outer = std::mem::replace(&mut self.inspector.in_dim, dim);
        let done = self.element(value);
        self.inspector.in_dim = outer;
        done
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Refused;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1};

    #[derive(serde::Serialize)]
    struct Terms {
        correction: Array1<f64>,
        rows: usize,
        ids: Vec<u64>,
    }

    #[test]
    fn shapes_are_the_dimensions_of_the_arrays_only() {
        assert_eq!(inspect(&array![1.0, 2.0, 3.0]).unwrap(), vec![3]);
        let terms = Terms {
            correction: Array1::zeros(5),
            rows: 17,
            ids: vec![1, 2, 3],
        };
        assert_eq!(
            inspect(&terms).unwrap(),
            vec![5],
            "rows and ids are no shape"
        );
        assert_eq!(inspect(&(array![1.0], 2.0)).unwrap(), vec![1]);
        assert_eq!(
            inspect(&ndarray::Array2::<f64>::zeros((2, 3))).unwrap(),
            vec![2, 3]
        );
        assert_eq!(inspect(&4.5).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn non_finite_numbers_are_refused_anywhere() {
        assert!(inspect(&array![1.0, f64::NAN]).is_err());
        assert!(inspect(&f64::INFINITY).is_err());
        let terms = Terms {
            correction: array![f64::NEG_INFINITY],
            rows: 1,
            ids: vec![],
        };
        assert!(inspect(&terms).unwrap_err().contains("non-finite"));
        assert!(inspect(&Some(f32::NAN)).is_err());
    }
}
