//! Reading the real process environment (its own test binary: it sets variables).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use ringspan::otlp::OtlpConfig;
use ringspan::EngineConfig;

#[test]
fn a_value_that_is_not_utf8_is_an_error_naming_the_variable() {
    std::env::set_var(
        "OTEL_SERVICE_NAME",
        OsString::from_vec(b"check\xffout".to_vec()),
    );
    let e = OtlpConfig::from_env().unwrap_err();
    let msg = e.to_string();
    assert!(e.is_config(), "{msg}");
    assert!(
        msg.contains("OTEL_SERVICE_NAME") && msg.contains("UTF-8"),
        "{msg}"
    );
    std::env::set_var("OTEL_SERVICE_NAME", "checkout");
    assert!(OtlpConfig::from_env().is_ok());
    std::env::remove_var("OTEL_SERVICE_NAME");
    assert!(EngineConfig::from_env().is_ok());
}
