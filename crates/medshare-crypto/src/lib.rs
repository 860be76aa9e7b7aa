//! medshare-crypto
