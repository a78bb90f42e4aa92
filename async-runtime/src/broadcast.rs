//! Values that `broadcast!` can publish, and how they are encoded for the wire.
//!
//! Any serde value can be broadcast: `Array2`, `ArrayD`, structs, tuples of any arity. Dense
//! `f64` arrays (`f64`, `Vec<f64>`, `Array1<f64>`, `Array2<f64>`, `ArrayD<f64>`) travel as raw
//! little-endian bytes behind a small shape header: encoding them costs a copy, not a
//! serializer. Everything else travels as postcard, where an `f64` is its 8 raw bytes too, so
//! a struct of arrays changes in place when its numbers change, and a new version of it
//! travels as a patch of the changed words (`broadcaster::delta`) like a plain array does.

use std::any::{Any, TypeId};

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use serde::{de::DeserializeOwned, Serialize};

/// A value that can be broadcast to workers and cached there by version: every
/// `Serialize + DeserializeOwned` type that is `Send + Sync + 'static`.
///
/// ```
/// use asyncopt_runtime::Broadcast;
/// use ndarray::{Array1, Array2};
///
/// let w = Array1::from(vec![0.5, -1.0, 2.0]);
/// let bytes = w.encode(); // 8 bytes per entry, no serializer
/// assert_eq!(bytes.len(), 24);
/// assert_eq!(Array1::<f64>::decode(&bytes).unwrap(), w);
///
/// let m = Array2::from_shape_vec((2, 2), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// assert_eq!(Array2::<f64>::decode(&m.encode()).unwrap(), m); // rows, columns, raw data
///
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Net { layers: Vec<Array2<f64>>, bias: Array1<f64>, scale: f64 }
/// let net = Net { layers: vec![m], bias: w, scale: 0.5 };
/// assert_eq!(Net::decode(&net.encode()).unwrap(), net); // any serde value
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be broadcast: workers receive a copy of it",
    label = "broadcast here",
    note = "broadcast! takes any value whose type derives `serde::Serialize` and `serde::Deserialize` \
            (and is `Send + Sync + 'static`): derive them for `{Self}`"
)]
pub trait Broadcast: Any + Send + Sync + Sized {
    /// The value's bytes on the wire.
    fn encode(&self) -> Vec<u8>;
    /// The value back from its bytes; an error, never a panic, for bytes that are not one.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
    /// The first number in the value that is not finite or whose square overflows, if one
    /// is: a model holding one has diverged, and results computed from it that are not finite
    /// are no worker's fault.
    #[doc(hidden)]
    fn overflowing(&self) -> Option<f64> {
        None
    }
}

// Reported as a missing `Broadcast`, once, rather than once per bound the type lacks.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Any + Send + Sync> Broadcast for T {
    fn encode(&self) -> Vec<u8> {
        raw::encode(self).unwrap_or_else(|| {
            // Serializing an owned serde value into a Vec fails only for types whose
            // `Serialize` reports an error itself (e.g. a map with non-string keys in some
            // formats); postcard has no such case for derived types. Keep it total anyway.
            postcard::to_allocvec(self).unwrap_or_default()
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        match raw::decode::<T>(bytes) {
            Some(value) => value,
            None => postcard::from_bytes(bytes).map_err(|e| e.to_string()),
        }
    }

    fn overflowing(&self) -> Option<f64> {
        crate::coordinator::inspect(self).ok()?.overflowing
    }
}

/// The raw fast path: dense `f64` arrays as their bytes, chosen by type at run time (stable
/// Rust has no specialization; a `TypeId` comparison is free after inlining).
mod raw {
    use super::*;

    /// The raw bytes of `value`, if its type has a raw encoding.
    pub fn encode<T: Any>(value: &T) -> Option<Vec<u8>> {
        let any = value as &dyn Any;
        if let Some(x) = any.downcast_ref::<f64>() {
            return Some(x.to_le_bytes().to_vec());
        }
        if let Some(v) = any.downcast_ref::<Vec<f64>>() {
            return Some(f64_bytes(v));
        }
        if let Some(a) = any.downcast_ref::<Array1<f64>>() {
            return Some(match a.as_slice() {
                Some(slice) => f64_bytes(slice),
                None => f64_bytes(&a.to_vec()),
            });
        }
        if let Some(a) = any.downcast_ref::<Array2<f64>>() {
            let (rows, cols) = a.dim();
            return Some(with_header(
                &[rows, cols],
                a.as_standard_layout().as_slice(),
            ));
        }
        if let Some(a) = any.downcast_ref::<ArrayD<f64>>() {
            let mut header = vec![a.ndim()];
            header.extend_from_slice(a.shape());
            return Some(with_header(&header, a.as_standard_layout().as_slice()));
        }
        None
    }

    /// The value back from raw bytes, if its type has a raw encoding.
    pub fn decode<T: Any>(bytes: &[u8]) -> Option<Result<T, String>> {
        let id = TypeId::of::<T>();
        let value: Result<Box<dyn Any>, String> = if id == TypeId::of::<f64>() {
            one_f64(bytes).map(|x| Box::new(x) as Box<dyn Any>)
        } else if id == TypeId::of::<Vec<f64>>() {
            f64s(bytes).map(|v| Box::new(v) as Box<dyn Any>)
        } else if id == TypeId::of::<Array1<f64>>() {
            f64s(bytes).map(|v| Box::new(Array1::from(v)) as Box<dyn Any>)
        } else if id == TypeId::of::<Array2<f64>>() {
            matrix(bytes).map(|a| Box::new(a) as Box<dyn Any>)
        } else if id == TypeId::of::<ArrayD<f64>>() {
            tensor(bytes).map(|a| Box::new(a) as Box<dyn Any>)
        } else {
            return None;
        };
        Some(value.and_then(|boxed| {
            boxed
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|_| "raw decoding produced another type".to_owned())
        }))
    }

    fn f64_bytes(values: &[f64]) -> Vec<u8> {
        bytemuck::cast_slice(values).to_vec()
    }

    /// `header` as little-endian u64 words, then the data: the data stays 8-byte aligned
    /// within the value, so word patches line up with its entries.
    fn with_header(header: &[usize], data: Option<&[f64]>) -> Vec<u8> {
        let data = data.unwrap_or(&[]);
        let mut bytes = Vec::with_capacity(8 * (header.len() + data.len()));
        for &h in header {
            bytes.extend_from_slice(&(h as u64).to_le_bytes());
        }
        bytes.extend_from_slice(bytemuck::cast_slice(data));
        bytes
    }

    fn one_f64(bytes: &[u8]) -> Result<f64, String> {
        let array: [u8; 8] = bytes
            .try_into()
            .map_err(|_| format!("{} bytes is not one f64", bytes.len()))?;
        Ok(f64::from_le_bytes(array))
    }

    pub(super) fn f64s(bytes: &[u8]) -> Result<Vec<f64>, String> {
        if !bytes.len().is_multiple_of(8) {
            return Err(format!(
                "{} bytes is not a whole number of f64",
                bytes.len()
            ));
        }
        // Received buffers may be unaligned: copy element-wise rather than cast in place.
        Ok(bytemuck::pod_collect_to_vec::<u8, f64>(bytes))
    }

    /// Splits `count` leading u64 words off `bytes`.
    fn words(bytes: &[u8], count: usize) -> Result<(Vec<usize>, &[u8]), String> {
        let len = count
            .checked_mul(8)
            .filter(|&len| len <= bytes.len())
            .ok_or_else(|| format!("{} bytes cannot hold a shape of {count} axes", bytes.len()))?;
        let (head, rest) = bytes.split_at(len);
        let dims = head
            .chunks_exact(8)
            .map(|w| {
                let word = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                usize::try_from(word).map_err(|_| format!("axis length {word} is too large"))
            })
            .collect::<Result<Vec<usize>, String>>()?;
        Ok((dims, rest))
    }

    fn data_of_shape(shape: &[usize], data: &[u8]) -> Result<Vec<f64>, String> {
        let expected = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_mul(8))
            .ok_or_else(|| format!("shape {shape:?} overflows"))?;
        if expected != data.len() {
            return Err(format!(
                "shape {shape:?} needs {expected} bytes of data, and {} came",
                data.len()
            ));
        }
        f64s(data)
    }

    fn matrix(bytes: &[u8]) -> Result<Array2<f64>, String> {
        let (shape, data) = words(bytes, 2)?;
        let values = data_of_shape(&shape, data)?;
        Array2::from_shape_vec((shape[0], shape[1]), values).map_err(|e| e.to_string())
    }

    fn tensor(bytes: &[u8]) -> Result<ArrayD<f64>, String> {
        let (ndim, rest) = words(bytes, 1)?;
        let (shape, data) = words(rest, ndim[0])?;
        let values = data_of_shape(&shape, data)?;
        ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};
    use serde::Deserialize;

    #[test]
    fn vectors_round_trip_bit_exactly() {
        let v = Array1::from(vec![1.5, -0.0, f64::MIN_POSITIVE, 1e300]);
        assert_eq!(Array1::<f64>::decode(&v.encode()).unwrap(), v);
        let unaligned: Vec<u8> = [0u8].iter().chain(v.encode().iter()).copied().collect();
        assert_eq!(Array1::<f64>::decode(&unaligned[1..]).unwrap(), v);
        assert!(Array1::<f64>::decode(&[0; 7]).is_err());
        assert_eq!(v.encode().len(), 32, "raw: 8 bytes an entry, no header");
    }

    #[test]
    fn matrices_and_tensors_travel_raw_with_their_shape() {
        let m = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let bytes = m.encode();
        assert_eq!(bytes.len(), 16 + 48, "two shape words, then the data");
        assert_eq!(Array2::<f64>::decode(&bytes).unwrap(), m);
        // A transposed view is stored column-major: it still travels in row order.
        let t = m.t().to_owned();
        assert_eq!(Array2::<f64>::decode(&t.encode()).unwrap(), t);
        let d =
            Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as f64).into_dyn();
        assert_eq!(ArrayD::<f64>::decode(&d.encode()).unwrap(), d);
    }

    #[test]
    fn malformed_shapes_are_errors_not_panics() {
        let m = array![[1.0, 2.0], [3.0, 4.0]];
        let bytes = m.encode();
        assert!(Array2::<f64>::decode(&bytes[..bytes.len() - 8]).is_err());
        assert!(Array2::<f64>::decode(&bytes[..12]).is_err());
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Array2::<f64>::decode(&huge).is_err());
        let mut axes = vec![0u8; 8];
        axes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(ArrayD::<f64>::decode(&axes).is_err());
        assert!(f64::decode(&[1, 2, 3]).is_err());
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Net {
        hidden: Array2<f64>,
        bias: Array1<f64>,
        steps: u32,
    }

    #[test]
    fn any_serde_value_round_trips() {
        let net = Net {
            hidden: array![[0.5, -1.0], [2.0, 3.0]],
            bias: array![0.25, 0.75],
            steps: 3,
        };
        assert_eq!(Net::decode(&net.encode()).unwrap(), net);
        let tuple = (1.0f64, array![1.0, 2.0], 3u8, String::from("x"), vec![1i32]);
        assert_eq!(<_>::decode(&tuple.encode()).ok(), Some(tuple));
        assert!(Net::decode(&[0xff; 3]).is_err());
    }

    #[test]
    fn a_struct_of_arrays_keeps_its_numbers_as_raw_words() {
        let mut net = Net {
            hidden: Array2::zeros((4, 4)),
            bias: Array1::zeros(4),
            steps: 0,
        };
        let before = net.encode();
        net.hidden[[2, 1]] = 1.0;
        let after = net.encode();
        assert_eq!(before.len(), after.len());
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert!(changed <= 8, "one f64 changed, {changed} bytes differ");
    }
}
