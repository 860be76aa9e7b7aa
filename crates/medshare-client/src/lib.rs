//! medshare-client
