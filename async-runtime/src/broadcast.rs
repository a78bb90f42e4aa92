//! Values that `broadcast!` can publish, and how they are encoded for the wire. Dense `f64`
//! vectors travel as raw little-endian bytes: encoding them costs a copy, not a serializer.

use std::any::Any;

use ndarray::Array1;

/// A value that can be broadcast to workers and cached there by version.
///
/// ```
/// use async_runtime::Broadcast;
/// use ndarray::Array1;
///
/// let w = Array1::from(vec![0.5, -1.0, 2.0]);
/// let bytes = w.encode(); // 8 bytes per entry, no serializer
/// assert_eq!(bytes.len(), 24);
/// assert_eq!(Array1::<f64>::decode(&bytes).unwrap(), w);
/// ```
pub trait Broadcast: Any + Send + Sync + Sized {
    /// The value's bytes on the wire.
    fn encode(&self) -> Vec<u8>;
    /// The value back from its bytes.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

fn f64s_from_bytes(bytes: &[u8]) -> Result<Vec<f64>, String> {
    if !bytes.len().is_multiple_of(8) {
        return Err(format!(
            "{} bytes is not a whole number of f64",
            bytes.len()
        ));
    }
    // Received buffers may be unaligned: copy element-wise rather than cast in place.
    Ok(bytemuck::pod_collect_to_vec::<u8, f64>(bytes))
}

impl Broadcast for Vec<f64> {
    fn encode(&self) -> Vec<u8> {
        bytemuck::cast_slice(self).to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        f64s_from_bytes(bytes)
    }
}

impl Broadcast for Array1<f64> {
    fn encode(&self) -> Vec<u8> {
        match self.as_slice() {
            Some(slice) => bytemuck::cast_slice(slice).to_vec(),
            None => bytemuck::cast_slice(&self.to_vec()).to_vec(),
        }
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        f64s_from_bytes(bytes).map(Array1::from)
    }
}

impl Broadcast for f64 {
    fn encode(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let array: [u8; 8] = bytes
            .try_into()
            .map_err(|_| format!("{} bytes is not one f64", bytes.len()))?;
        Ok(f64::from_le_bytes(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_bit_exactly() {
        let v = Array1::from(vec![1.5, -0.0, f64::MIN_POSITIVE, 1e300]);
        assert_eq!(Array1::<f64>::decode(&v.encode()).unwrap(), v);
        let unaligned: Vec<u8> = [0u8].iter().chain(v.encode().iter()).copied().collect();
        assert_eq!(Array1::<f64>::decode(&unaligned[1..]).unwrap(), v);
        assert!(Array1::<f64>::decode(&[0; 7]).is_err());
    }
}
