//! STUB
pub async fn fetch(_c: crate::upstream::PoolChannel, _s: &[String]) -> Result<Vec<u8>, String> {
    todo!()
}
