//! The smallest sockhttp server: the README's ten-line example.
//!
//! `cargo run --example hello` then `curl http://127.0.0.1:8080/users/7`.
//! Arguments: `[ADDR] [THREADS]`: the address to listen on
//! (`127.0.0.1:0` picks a free port) and the number of worker threads.

use sockhttp::{HandlerResult, Response, Router, Server};

fn main() -> std::io::Result<()> {
    let app = Router::new()
        .get("/", |_req| Response::text("hello"))
        .get("/users/{id}", |req| {
            Response::text(format!("user {}", req.param("id").unwrap_or("?")))
        })
        .post("/upload", |req| -> HandlerResult {
            let body = req.body_bytes()?;
            Ok(Response::text(format!("{} bytes", body.len())))
        });
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let threads = match args.next() {
        Some(n) => n.parse().map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "THREADS must be a number")
        })?,
        None => 8,
    };
    let server = Server::bind(addr)?.threads(threads);
    println!("listening on http://{}", server.local_addr());
    server.serve(app)
}
