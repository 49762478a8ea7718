//! Test keys made with the `openssl` command, and tokens signed with them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The HS256 secret the auth tests configure.
pub const HS256_SECRET: &str = "test-hs256-secret-0123456789";

/// Key files generated once per test run.
pub struct Keys {
    dir: PathBuf,
}

impl Keys {
    /// The keys, generated on first use.
    pub fn get() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(Keys::generate)
    }

    fn generate() -> Keys {
        let dir = std::env::temp_dir().join(format!("sockgate-e2e-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("run openssl (is it installed?)");
            assert!(status.success(), "openssl {args:?} failed");
        };
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ]);
        run(&["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem"]);
        run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ]);
        run(&["pkey", "-in", "ec.pem", "-pubout", "-out", "ec.pub.pem"]);
        Keys { dir }
    }

    /// Path of the RSA public key.
    pub fn rsa_public(&self) -> String {
        self.dir.join("rsa.pub.pem").display().to_string()
    }

    /// Path of the EC public key.
    pub fn ec_public(&self) -> String {
        self.dir.join("ec.pub.pem").display().to_string()
    }

    /// A token signed with `alg`'s test key.
    pub fn token(&self, alg: Algorithm, claims: &Value) -> String {
        let read = |name: &str| std::fs::read(self.dir.join(name)).unwrap();
        let key = match alg {
            Algorithm::HS256 => EncodingKey::from_secret(HS256_SECRET.as_bytes()),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&read("rsa.pem")).unwrap(),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&read("ec.pem")).unwrap(),
            other => panic!("no test key for {other:?}"),
        };
        encode(&Header::new(alg), claims, &key).unwrap()
    }

    /// Config accepting all three key types, plus `extra` lines under `[auth]`.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "[auth]\n{extra}\n[auth.jwt]\nhs256_secret = \"{HS256_SECRET}\"\nrs256_public_key = \"{}\"\nes256_public_key = \"{}\"\n",
            self.rsa_public(),
            self.ec_public()
        )
    }
}

/// Seconds since the epoch, shifted by `offset`.
pub fn now_plus(offset: i64) -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 + offset
}

/// Claims for user `sub`, valid for a minute.
pub fn claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": now_plus(60)})
}
