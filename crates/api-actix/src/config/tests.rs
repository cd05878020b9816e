//! The settings as the environment gives them.

use super::*;
use secrecy::ExposeSecret as _;
use std::net::IpAddr;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![(
        "DATABASE_URL".to_owned(),
        "postgres://u:pw@db/ems".to_owned(),
    )];
    all.extend(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    all
}

fn parse(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_vars(vars(pairs))
}

fn error_of(pairs: &[(&str, &str)]) -> ConfigError {
    match parse(pairs) {
        Err(e) => e,
        Ok(_) => panic!("expected an error for {pairs:?}"),
    }
}

#[test]
fn defaults_match_the_contract() {
    let s = parse(&[]).unwrap();
    assert_eq!(s.database.url.expose_secret(), "postgres://u:pw@db/ems");
    assert!(s.redis.url.is_none());
    assert_eq!(s.redis.timeout, Duration::from_millis(250));
    assert_eq!(s.sessions.activity_flush_interval, Duration::from_secs(30));
    assert_eq!(s.http.bind_addr, "127.0.0.1:8080".parse().unwrap());
    assert!(s.http.tls.is_none());
    assert_eq!(s.app_env, AppEnv::Development);
    assert!(s.admin.is_none());
    assert_eq!(s.jwt.access_expiry, Duration::from_secs(15 * 60));
    assert_eq!(s.jwt.refresh_expiry, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(s.jwt.refresh_reuse_grace, Duration::ZERO);
    assert_eq!(s.rate_limits.all, 100);
    assert_eq!(s.rate_limits.login, 5);
    assert_eq!(s.rate_limits.admin_write, 30);
    assert_eq!(s.lockout.threshold, 10);
    assert_eq!(s.lockout.duration, Duration::from_secs(15 * 60));
    assert!(s.http.trusted_proxies.is_empty());
    assert!(s.audit.enabled);
    assert_eq!(s.audit.retention_days, 90);
    assert_eq!(s.audit.seal_interval, Duration::from_secs(1));
    assert_eq!(s.audit.retention_interval, Duration::from_secs(3600));
    assert!(s.audit.hmac_key.is_none());
    assert!(s.metrics.token.is_none());
    assert!(s.metrics.enabled);
    assert_eq!(s.log.format, LogFormat::Json);
    assert!(s.log.file_dir.is_none());
    assert_eq!(s.log.file_retention, 7);
    assert!(s.telemetry.otlp_endpoint.is_none());
    assert_eq!(s.telemetry.otlp_protocol, OtlpProtocol::Grpc);
    assert_eq!(s.telemetry.service_name, "ems");
    assert!(s.jwt.signing_keys.is_empty());
    assert_eq!(s.jwt.issuer, "ems");
    assert_eq!(s.jwt.audience, "ems-api");
    assert_eq!(s.database.max_connections, 16);
    assert_eq!(s.database.timeout, Duration::from_secs(3));
    assert_eq!(s.database.statement_timeout, Duration::from_secs(10));
}

#[test]
fn the_otlp_protocol_prefers_the_traces_variable_and_the_service_name_is_read() {
    let general = parse(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap();
    assert_eq!(general.telemetry.otlp_protocol, OtlpProtocol::HttpProtobuf);
    let both = parse(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", " grpc "),
        ("OTEL_SERVICE_NAME", " ems-eu-1 "),
    ])
    .unwrap();
    assert_eq!(both.telemetry.otlp_protocol, OtlpProtocol::Grpc);
    assert_eq!(both.telemetry.service_name, "ems-eu-1");
    let traces = error_of(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ]);
    assert_eq!(traces.var, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "{traces}");
}

#[test]
fn every_setting_is_read_from_its_variable() {
    let s = parse(&[
        ("REDIS_URL", "redis://cache:6379"),
        ("BIND_ADDR", "0.0.0.0:9000"),
        ("APP_ENV", "production"),
        ("ADMIN_USERNAME", "root-admin"),
        ("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt"),
        ("JWT_ACCESS_EXPIRY", "5m"),
        ("JWT_REFRESH_EXPIRY", "30d"),
        ("REFRESH_REUSE_GRACE", "30s"),
        ("RATE_LIMIT", "1000"),
        ("LOGIN_RATE_LIMIT", "20"),
        ("ADMIN_WRITE_RATE_LIMIT", "7"),
        ("LOCKOUT_THRESHOLD", "3"),
        ("LOCKOUT_DURATION", "1h"),
        ("TRUSTED_PROXIES", "10.0.0.1, 10.1.0.0/16,::1"),
        ("AUDIT_ENABLED", "false"),
        ("AUDIT_RETENTION_DAYS", "30"),
        ("METRICS_TOKEN", "metrics-secret"),
        ("LOG_FORMAT", "pretty"),
        ("LOG_FILE_DIR", " /var/log/ems "),
        ("LOG_FILE_RETENTION", "30"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
        ("JWT_SIGNING_KEYS", "/keys/new.pem, /keys/old.pem"),
        ("AUDIT_HMAC_KEY", " /keys/audit.key "),
        ("JWT_ISSUER", "https://ems.example"),
        ("JWT_AUDIENCE", "ems-web"),
        ("DATABASE_MAX_CONNECTIONS", "4"),
        ("DATABASE_TIMEOUT", "500ms"),
        ("DATABASE_STATEMENT_TIMEOUT", "2s"),
    ])
    .unwrap();
    assert_eq!(s.redis.url.unwrap().expose_secret(), "redis://cache:6379");
    assert_eq!(s.http.bind_addr, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(s.app_env, AppEnv::Production);
    let admin = s.admin.unwrap();
    assert_eq!(admin.username.as_str(), "root-admin");
    assert_eq!(admin.password.expose_secret(), "Vy7#qLm2!pXw9zRt");
    assert_eq!(s.jwt.access_expiry, Duration::from_secs(300));
    assert_eq!(s.jwt.refresh_expiry, Duration::from_secs(30 * 86400));
    assert_eq!(s.jwt.refresh_reuse_grace, Duration::from_secs(30));
    assert_eq!((s.rate_limits.all, s.rate_limits.login), (1000, 20));
    assert_eq!(s.rate_limits.admin_write, 7);
    assert_eq!(s.lockout.threshold, 3);
    assert_eq!(s.lockout.duration, Duration::from_secs(3600));
    assert_eq!(s.http.trusted_proxies.len(), 3);
    assert!(s.http.trusted_proxies[0].contains(&"10.0.0.1".parse::<IpAddr>().unwrap()));
    assert!(s.http.trusted_proxies[1].contains(&"10.1.200.3".parse::<IpAddr>().unwrap()));
    assert!(!s.audit.enabled);
    assert_eq!(s.audit.retention_days, 30);
    assert_eq!(s.metrics.token.unwrap().expose_secret(), "metrics-secret");
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert_eq!(s.log.file_dir, Some(PathBuf::from("/var/log/ems")));
    assert_eq!(s.log.file_retention, 30);
    assert_eq!(
        s.telemetry.otlp_endpoint.as_deref(),
        Some("http://otel:4317")
    );
    assert_eq!(
        s.jwt.signing_keys,
        vec![
            PathBuf::from("/keys/new.pem"),
            PathBuf::from("/keys/old.pem")
        ]
    );
    assert_eq!(s.audit.hmac_key, Some(PathBuf::from("/keys/audit.key")));
    assert_eq!(s.jwt.issuer, "https://ems.example");
    assert_eq!(s.jwt.audience, "ems-web");
    assert_eq!(s.database.max_connections, 4);
    assert_eq!(s.database.timeout, Duration::from_millis(500));
    assert_eq!(s.database.statement_timeout, Duration::from_secs(2));
}

#[test]
fn empty_values_mean_the_default() {
    let s = parse(&[("RATE_LIMIT", ""), ("REDIS_URL", "  "), ("LOG_FORMAT", "")]).unwrap();
    assert_eq!(s.rate_limits.all, 100);
    assert!(s.redis.url.is_none());
}

#[test]
fn a_missing_database_url_is_named() {
    let e = Settings::from_vars(Vec::<(String, String)>::new()).unwrap_err();
    assert_eq!(e.to_string(), "DATABASE_URL: is required but not set");
}

#[test]
fn a_bad_duration_names_its_variable_and_value() {
    assert_eq!(
        error_of(&[("JWT_ACCESS_EXPIRY", "15x")]).to_string(),
        r#"JWT_ACCESS_EXPIRY: invalid duration "15x" (use e.g. 15m, 7d, 30s)"#
    );
}

#[test]
fn every_parse_error_names_its_variable() {
    let cases: &[(&str, &str)] = &[
        ("DATABASE_MAX_CONNECTIONS", "many"),
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("DATABASE_TIMEOUT", "3"),
        ("DATABASE_TIMEOUT", "0s"),
        ("DATABASE_STATEMENT_TIMEOUT", "soon"),
        ("REDIS_URL", "http://cache"),
        ("BIND_ADDR", "localhost"),
        ("APP_ENV", "staging"),
        ("JWT_ACCESS_EXPIRY", "0s"),
        ("JWT_REFRESH_EXPIRY", "7 days and a bit"),
        ("REFRESH_REUSE_GRACE", "-1s"),
        ("RATE_LIMIT", "-5"),
        ("RATE_LIMIT", "0"),
        ("LOGIN_RATE_LIMIT", "5/min"),
        ("ADMIN_WRITE_RATE_LIMIT", "0"),
        ("LOCKOUT_THRESHOLD", "0"),
        ("LOCKOUT_THRESHOLD", "ten"),
        ("LOCKOUT_DURATION", "forever"),
        ("TRUSTED_PROXIES", "10.0.0.1,not-an-ip"),
        ("AUDIT_ENABLED", "maybe"),
        ("AUDIT_RETENTION_DAYS", "90d"),
        ("AUDIT_SEAL_INTERVAL", "0s"),
        ("AUDIT_RETENTION_INTERVAL", "hourly"),
        ("LOG_FORMAT", "xml"),
        ("LOG_FILE_RETENTION", "0"),
        ("LOG_FILE_RETENTION", "a week"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"),
    ];
    for (var, value) in cases {
        let e = error_of(&[(var, value)]);
        assert_eq!(e.var, *var, "{var}={value} gave {e}");
        let line = e.to_string();
        assert!(line.starts_with(&format!("{var}: ")), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}

#[test]
fn log_file_settings_are_optional_and_a_bad_retention_is_named() {
    let s = parse(&[("LOG_FILE_DIR", "logs")]).unwrap();
    assert_eq!(s.log.file_dir, Some(PathBuf::from("logs")));
    assert_eq!(s.log.file_retention, 7);
    assert_eq!(
        error_of(&[("LOG_FILE_RETENTION", "0")]).to_string(),
        "LOG_FILE_RETENTION: must be at least 1 (the file being written)"
    );
    assert_eq!(
        error_of(&[("LOG_FILE_RETENTION", "7d")]).to_string(),
        r#"LOG_FILE_RETENTION: invalid number "7d" (use a whole number)"#
    );
}

#[test]
fn admin_credentials_come_in_pairs_and_must_be_valid() {
    assert_eq!(
        error_of(&[("ADMIN_USERNAME", "boss")]).var,
        "ADMIN_PASSWORD"
    );
    assert_eq!(
        error_of(&[("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt")]).var,
        "ADMIN_USERNAME"
    );
    assert_eq!(
        error_of(&[
            ("ADMIN_USERNAME", "b"),
            ("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt")
        ])
        .var,
        "ADMIN_USERNAME"
    );
    let weak = error_of(&[
        ("ADMIN_USERNAME", "boss"),
        ("ADMIN_PASSWORD", "password123"),
    ]);
    assert_eq!(weak.var, "ADMIN_PASSWORD");
    assert!(!weak.to_string().contains("password123"), "{weak}");
}

#[test]
fn tls_files_come_in_pairs() {
    let s = parse(&[
        ("TLS_CERT_FILE", " /etc/ems/cert.pem "),
        ("TLS_KEY_FILE", "/etc/ems/key.pem"),
    ])
    .unwrap();
    assert_eq!(
        s.http.tls,
        Some(TlsFiles {
            cert_file: PathBuf::from("/etc/ems/cert.pem"),
            key_file: PathBuf::from("/etc/ems/key.pem"),
        })
    );
    assert_eq!(
        error_of(&[("TLS_CERT_FILE", "/etc/ems/cert.pem")]).to_string(),
        "TLS_KEY_FILE: is required when TLS_CERT_FILE is set (set both or neither)"
    );
    assert_eq!(
        error_of(&[("TLS_KEY_FILE", "/etc/ems/key.pem")]).to_string(),
        "TLS_CERT_FILE: is required when TLS_KEY_FILE is set (set both or neither)"
    );
    let blank = parse(&[("TLS_CERT_FILE", " "), ("TLS_KEY_FILE", "")]).unwrap();
    assert!(blank.http.tls.is_none(), "empty means unset");
}

#[test]
fn production_without_signing_keys_is_refused() {
    let e = error_of(&[("APP_ENV", "production")]);
    assert_eq!(e.var, "JWT_SIGNING_KEYS");
    let e = error_of(&[("APP_ENV", "production"), ("JWT_SIGNING_KEYS", " , ")]);
    assert_eq!(e.var, "JWT_SIGNING_KEYS");
    assert!(parse(&[
        ("APP_ENV", "production"),
        ("JWT_SIGNING_KEYS", "/k.pem"),
        ("SINGLE_INSTANCE", "true"),
        ("AUDIT_HMAC_KEY", "/audit.key"),
    ])
    .is_ok());
}

#[test]
fn production_without_an_audit_key_is_refused_in_one_line() {
    let e = error_of(&[("APP_ENV", "production"), ("JWT_SIGNING_KEYS", "/k.pem")]);
    assert_eq!(e.var, "AUDIT_HMAC_KEY");
    let line = e.to_string();
    assert!(line.starts_with("AUDIT_HMAC_KEY: is required") && !line.contains('\n'));
    let e = error_of(&[
        ("APP_ENV", "production"),
        ("JWT_SIGNING_KEYS", "/k.pem"),
        ("AUDIT_HMAC_KEY", "  "),
    ]);
    assert_eq!(e.var, "AUDIT_HMAC_KEY", "blank means unset");
    assert!(parse(&[("APP_ENV", "test")])
        .unwrap()
        .audit
        .hmac_key
        .is_none());
}

#[test]
fn production_without_redis_starts_only_when_declared_single_instance() {
    let keys = ("JWT_SIGNING_KEYS", "/k.pem");
    let audit = ("AUDIT_HMAC_KEY", "/audit.key");
    let e = error_of(&[("APP_ENV", "production"), keys, audit]);
    assert_eq!(e.var, "REDIS_URL");
    assert!(e.problem.contains("SINGLE_INSTANCE=true"), "{e}");
    let e = error_of(&[
        ("APP_ENV", "production"),
        keys,
        audit,
        ("SINGLE_INSTANCE", "false"),
    ]);
    assert_eq!(e.var, "REDIS_URL");
    assert_eq!(
        error_of(&[
            ("APP_ENV", "production"),
            keys,
            audit,
            ("SINGLE_INSTANCE", "yes please")
        ])
        .var,
        "SINGLE_INSTANCE"
    );
    let single = parse(&[
        ("APP_ENV", "production"),
        keys,
        audit,
        ("SINGLE_INSTANCE", "true"),
    ]);
    assert!(single.unwrap().redis.single_instance);
    let shared = parse(&[
        ("APP_ENV", "production"),
        keys,
        audit,
        ("REDIS_URL", "redis://cache:6379"),
    ]);
    assert!(!shared.unwrap().redis.single_instance);
    assert!(parse(&[]).is_ok(), "development needs neither");
}

#[test]
fn secrets_are_never_echoed_or_printed() {
    let e = Settings::from_vars(vec![(
        "DATABASE_URL".to_owned(),
        "mysql://root:hunter2@db".to_owned(),
    )])
    .unwrap_err();
    assert_eq!(e.var, "DATABASE_URL");
    assert!(!e.to_string().contains("hunter2"));

    let e = error_of(&[("REDIS_URL", "http://:hunter2@cache")]);
    assert!(!e.to_string().contains("hunter2"));

    let s = parse(&[
        ("REDIS_URL", "redis://:hunter2@cache"),
        ("METRICS_TOKEN", "hunter2-metrics"),
        ("ADMIN_USERNAME", "boss"),
        ("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt"),
    ])
    .unwrap();
    let debug = format!("{s:?}");
    for secret in ["hunter2", "pw@db", "Vy7#qLm2"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
}

#[test]
fn a_libpq_key_value_database_url_is_accepted() {
    let s = Settings::from_vars(vec![(
        "DATABASE_URL".to_owned(),
        "host=/tmp dbname=ems user=ems".to_owned(),
    )])
    .unwrap();
    assert_eq!(
        s.database.url.expose_secret(),
        "host=/tmp dbname=ems user=ems"
    );
}

#[test]
fn variable_names_are_matched_case_insensitively_and_app_env_values_too() {
    let s = Settings::from_vars(vec![
        ("database_url".to_owned(), "postgresql://db/ems".to_owned()),
        ("APP_ENV".to_owned(), "Test".to_owned()),
    ])
    .unwrap();
    assert_eq!(s.app_env, AppEnv::Test);
}

#[test]
fn a_full_parse_reads_every_listed_variable() {
    let mut env = Env::new(vars(&[]));
    Settings::read(&mut env).unwrap();
    let listed: std::collections::BTreeSet<&str> = VARIABLES.iter().copied().collect();
    assert_eq!(env.read(), &listed, "VARIABLES and the parser disagree");
    assert_eq!(listed.len(), VARIABLES.len(), "a variable is listed twice");
}

/// The rows of the README's settings table: the variables of the first cell and the
/// defaults of the second, each in backticks (`unset`, `required`, `empty` have none).
fn readme_rows() -> Vec<(Vec<String>, Vec<String>)> {
    let readme = include_str!("../../../../README.md");
    let table = readme
        .split("| variable | default | meaning |")
        .nth(1)
        .expect("the README has a settings table");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            (
                ticked(cells[0]),
                ticked(cells.get(1).copied().unwrap_or("")),
            )
        })
        .collect()
}

#[test]
fn the_readme_settings_table_names_every_variable_and_nothing_else() {
    let documented: Vec<String> = readme_rows().into_iter().flat_map(|(v, _)| v).collect();
    let mut sorted_documented = documented.clone();
    sorted_documented.sort();
    sorted_documented.dedup();
    assert_eq!(
        sorted_documented.len(),
        documented.len(),
        "a row is repeated"
    );
    let mut listed: Vec<String> = VARIABLES.iter().map(|v| (*v).to_owned()).collect();
    listed.sort();
    assert_eq!(
        sorted_documented, listed,
        "README.md's settings table and config::VARIABLES disagree"
    );
}

#[test]
fn the_readme_defaults_are_the_parsers_defaults() {
    let defaults = format!("{:?}", parse(&[]).unwrap());
    let mut checked = 0;
    for (names, values) in readme_rows() {
        if names.len() != values.len() {
            continue; // "unset", "required", "empty": no value to set
        }
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .map(String::as_str)
            .zip(values.iter().map(String::as_str))
            .collect();
        let given = parse(&pairs).unwrap_or_else(|e| panic!("README default {pairs:?}: {e}"));
        assert_eq!(
            format!("{given:?}"),
            defaults,
            "README.md documents {pairs:?} as the default, the parser disagrees"
        );
        checked += names.len();
    }
    assert!(checked >= 25, "only {checked} defaults were compared");
}

#[test]
fn password_expiry_is_off_unless_set_and_the_purge_period_defaults_to_30_days() {
    let s = parse(&[("DATABASE_URL", "postgres://db")]).unwrap();
    assert_eq!(s.accounts.password_max_age, None);
    assert_eq!(
        s.accounts.user_purge_after,
        Duration::from_secs(30 * 24 * 3600)
    );

    let s = parse(&[
        ("DATABASE_URL", "postgres://db"),
        ("PASSWORD_MAX_AGE", "90d"),
        ("USER_PURGE_AFTER", "12h"),
    ])
    .unwrap();
    assert_eq!(
        s.accounts.password_max_age,
        Some(Duration::from_secs(90 * 24 * 3600))
    );
    assert_eq!(s.accounts.user_purge_after, Duration::from_secs(12 * 3600));

    for var in ["PASSWORD_MAX_AGE", "USER_PURGE_AFTER"] {
        for bad in ["0s", "soon"] {
            let e = error_of(&[("DATABASE_URL", "postgres://db"), (var, bad)]);
            assert_eq!(e.var, var, "{var}={bad} gave {e}");
        }
    }
}

#[test]
fn the_redis_key_prefix_defaults_to_the_earlier_key_names_and_is_read() {
    assert_eq!(parse(&[]).unwrap().redis.key_prefix, "ems:");
    let s = parse(&[("REDIS_KEY_PREFIX", " staging-ems: ")]).unwrap();
    assert_eq!(s.redis.key_prefix, "staging-ems:");
}

#[test]
fn the_trace_sampler_is_read_with_its_ratio_and_a_bad_one_names_its_variable() {
    use TraceSampler as S;
    assert_eq!(
        parse(&[]).unwrap().telemetry.sampler,
        S::ParentBasedAlwaysOn
    );
    let sampler = |pairs: &[(&str, &str)]| parse(pairs).unwrap().telemetry.sampler;
    assert_eq!(
        sampler(&[("OTEL_TRACES_SAMPLER", "always_off")]),
        S::AlwaysOff
    );
    assert_eq!(
        sampler(&[("OTEL_TRACES_SAMPLER", "traceidratio")]),
        S::TraceIdRatio(1.0),
        "the specification's default ratio"
    );
    assert_eq!(
        sampler(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
        ]),
        S::ParentBasedTraceIdRatio(0.01)
    );
    assert_eq!(
        sampler(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_always_off"),
            ("OTEL_TRACES_SAMPLER_ARG", "not read"),
        ]),
        S::ParentBasedAlwaysOff,
        "another sampler ignores the argument"
    );
    let e = error_of(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ]);
    assert_eq!(e.var, "OTEL_TRACES_SAMPLER_ARG", "{e}");
    let e = error_of(&[("OTEL_TRACES_SAMPLER", "sometimes")]);
    assert_eq!(e.var, "OTEL_TRACES_SAMPLER", "{e}");
    assert!(e.to_string().contains("parentbased_traceidratio"), "{e}");
}

#[test]
fn a_read_replica_url_is_optional_and_must_be_a_postgres_url() {
    assert!(parse(&[]).unwrap().database.read_url.is_none());
    let s = parse(&[("DATABASE_READ_URL", "postgres://ro:pw@replica/ems")]).unwrap();
    assert_eq!(
        s.database.read_url.unwrap().expose_secret(),
        "postgres://ro:pw@replica/ems"
    );
    let e = error_of(&[("DATABASE_READ_URL", "mysql://ro:pw@replica/ems")]);
    assert_eq!(e.var, "DATABASE_READ_URL");
    assert!(!e.to_string().contains("pw@"), "{e}");
}
