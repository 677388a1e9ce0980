//! # sspi-emu-win: the real Windows SSPI behind the `Backend` trait (work in progress, issue 4)
