//! medshare-server
