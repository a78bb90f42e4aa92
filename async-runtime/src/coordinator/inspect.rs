//! What the driver checks in a result before the algorithm sees it: every float finite, the
//! shape (the dimensions of every ndarray array in it, in order) equal to the one its site
//! settled on, and the rows its [`HistoryUpdate`](crate::HistoryUpdate)s name among those its
//! task was given. A walk through the value's `Serialize` implementation: no allocation but
//! the shape and the rows named, so the check costs one pass over the data. The shape of
//! `array![1.0, 2.0]` is `[2]`; `array![1.0, f64::NAN]` holds a non-finite number (see the
//! tests below), which the driver refuses, and judges apart: a task whose results are not
//! finite on most workers is at fault, not its workers.

use serde::ser::{self, Serialize};

/// The shape of a result: the dimensions of each array in it, in order.
pub(crate) type Shape = Vec<u64>;

/// What the walk found in a result that the driver checks against its task.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Inspected {
    /// The result's shape.
    pub shape: Shape,
    /// The rows its history updates name, in order (repeats kept): a worker may write the
    /// history entries of its own task's rows only.
    pub history_rows: Vec<u64>,
    /// The first number in it that is not finite (NaN, an infinity), if one is.
    pub not_finite: Option<f64>,
    /// The first number in it that is not finite or whose square overflows (over about
    /// `1.3e154`), if one is: a value holding one is poisoned, honest arithmetic on it (a dot
    /// product, a square) may give infinities and NaN.
    pub overflowing: Option<f64>,
}

/// The value's shape and the history rows it names, or why it is refused.
pub(crate) fn inspect<T: Serialize + ?Sized>(value: &T) -> Result<Inspected, String> {
    let mut inspector = Inspector {
        found: Inspected::default(),
        within: Within::Other,
    };
    value.serialize(&mut inspector).map_err(|e| e.0)?;
    Ok(inspector.found)
}

struct Inspector {
    found: Inspected,
    /// What integers met now stand for.
    within: Within,
}

/// Where the walk is, for the integers it meets.
#[derive(Clone, Copy, PartialEq)]
enum Within {
    /// The `dim` field of an ndarray array: integers are dimensions.
    Dim,
    /// The `ids` field of a `HistoryUpdate`: integers are the rows it writes.
    HistoryIds,
    /// Anywhere else: integers are data.
    Other,
}

/// What a struct's fields stand for, by the struct's name.
#[derive(Clone, Copy)]
enum Kind {
    /// ndarray's `Array`.
    Array,
    /// The runtime's `HistoryUpdate`.
    HistoryUpdate,
    Other,
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
        match self.within {
            Within::Dim => self.found.shape.push(value),
            Within::HistoryIds => self.found.history_rows.push(value),
            Within::Other => {}
        }
        Ok(())
    }

    fn float(&mut self, value: f64) -> Done {
        if !value.is_finite() && self.found.not_finite.is_none() {
            self.found.not_finite = Some(value);
        }
        if !(value * value).is_finite() && self.found.overflowing.is_none() {
            self.found.overflowing = Some(value);
        }
        Ok(())
    }
}

/// Every compound: elements are inspected in turn; a struct named `Array` (ndarray's) marks
/// its `dim` field, one named `HistoryUpdate` (the runtime's) its `ids` field.
struct Compound<'a> {
    inspector: &'a mut Inspector,
    kind: Kind,
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
        Ok(self.compound(Kind::Other))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(Kind::Other))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(Kind::Other))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(Kind::Other))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(Kind::Other))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Refused> {
        let kind = match name {
            "Array" => Kind::Array,
            "HistoryUpdate" => Kind::HistoryUpdate,
            _ => Kind::Other,
        };
        Ok(self.compound(kind))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Refused> {
        Ok(self.compound(Kind::Other))
    }
}

impl Inspector {
    fn compound(&mut self, kind: Kind) -> Compound<'_> {
        Compound {
            inspector: self,
            kind,
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
        let within = match (self.kind, key) {
            (Kind::Array, "dim") => Within::Dim,
            (Kind::HistoryUpdate, "ids") => Within::HistoryIds,
            _ => Within::Other,
        };
        let outer = std::mem::replace(&mut self.inspector.within, within);
        let done = self.element(value);
        self.inspector.within = outer;
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

    fn shape<T: serde::Serialize>(value: &T) -> Shape {
        inspect(value).unwrap().shape
    }

    #[test]
    fn shapes_are_the_dimensions_of_the_arrays_only() {
        assert_eq!(shape(&array![1.0, 2.0, 3.0]), vec![3]);
        let terms = Terms {
            correction: Array1::zeros(5),
            rows: 17,
            ids: vec![1, 2, 3],
        };
        assert_eq!(
            inspect(&terms).unwrap(),
            Inspected {
                shape: vec![5],
                history_rows: Vec::new(),
                not_finite: None,
                overflowing: None,
            },
            "rows and ids are no shape, nor history rows outside a HistoryUpdate"
        );
        assert_eq!(shape(&(array![1.0], 2.0)), vec![1]);
        assert_eq!(shape(&ndarray::Array2::<f64>::zeros((2, 3))), vec![2, 3]);
        assert_eq!(shape(&4.5), Vec::<u64>::new());
    }

    #[test]
    fn the_rows_of_every_history_update_are_found_in_order() {
        let mut first = crate::HistoryUpdate::default();
        first.push(7, 0.5);
        first.push(3, 1.5);
        let mut second = crate::HistoryUpdate::default();
        second.push(7, 2.0);
        let found = inspect(&(array![1.0, 2.0], first, vec![second])).unwrap();
        assert_eq!(found.shape, vec![2], "the ids are no shape");
        assert_eq!(found.history_rows, vec![7, 3, 7]);
    }

    #[test]
    fn non_finite_numbers_are_found_anywhere() {
        let not_finite = |found: Result<Inspected, String>| found.unwrap().not_finite;
        assert!(not_finite(inspect(&array![1.0, f64::NAN])).is_some_and(f64::is_nan));
        assert_eq!(not_finite(inspect(&f64::INFINITY)), Some(f64::INFINITY));
        let terms = Terms {
            correction: array![f64::NEG_INFINITY, f64::NAN],
            rows: 1,
            ids: vec![],
        };
        let found = inspect(&terms).unwrap();
        assert_eq!(found.not_finite, Some(f64::NEG_INFINITY), "the first one");
        assert_eq!(found.shape, vec![2], "the walk goes on to the end");
        assert!(not_finite(inspect(&Some(f32::NAN))).is_some_and(f64::is_nan));
        assert_eq!(not_finite(inspect(&array![1.0, 2.0])), None);
        let overflowing = |found: Result<Inspected, String>| found.unwrap().overflowing;
        assert_eq!(overflowing(inspect(&array![1e154, -2e154])), Some(-2e154));
        assert_eq!(
            overflowing(inspect(&array![1e154, f64::INFINITY])),
            Some(f64::INFINITY)
        );
        assert_eq!(overflowing(inspect(&array![1e154, -1e154])), None);
    }
}
