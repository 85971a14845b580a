//! NumPy `.npy` files (representations given as a file).

pub fn run(data: &[u8]) {
    let dir = crate::scratch::fresh("npy");
    let path = crate::scratch::file(&dir, "x.npy", data);
    let _ = pertbench_data::npy::read(&path);
}
