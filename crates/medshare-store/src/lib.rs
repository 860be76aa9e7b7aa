//! medshare-store
