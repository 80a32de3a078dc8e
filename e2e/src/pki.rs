//! A throw-away certificate authority made with the `openssl` command: a CA and server
//! certificates it signs, as PEM files in a temporary directory.

use std::process::Command;

use hopgate_test_support::TempDir;

pub struct Pki {
    pub dir: TempDir,
}

/// A server certificate and its key, as file paths.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const NEW_P256_KEY: [&str; 6] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
];

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// A new CA (see [`Pki::ca`]).
    pub fn new() -> Self {
        let pki = Self {
            dir: TempDir::new("pki"),
        };
        let (key, cert) = (pki.path("ca.key"), pki.path("ca.crt"));
        let mut args = vec!["req", "-x509"];
        args.extend(NEW_P256_KEY);
        args.extend([
            key.as_str(),
            "-out",
            cert.as_str(),
            "-days",
            "2",
            "-subj",
            "/CN=hopgate test CA",
        ]);
        openssl(&args);
        pki
    }

    fn path(&self, file: &str) -> String {
        self.dir.0.join(file).to_str().unwrap().to_owned()
    }

    /// The CA certificate's path.
    pub fn ca(&self) -> String {
        self.path("ca.crt")
    }

    /// A server certificate named `name` for the subject alternative names `sans`
    /// (`DNS:hopgate-relay`, `IP:127.0.0.1`), signed by the CA.
    pub fn leaf(&self, name: &str, sans: &str) -> Leaf {
        let ext = self.path(&format!("{name}.ext"));
        let extensions = format!(
            "subjectAltName={sans}\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
        );
        std::fs::write(&ext, extensions).unwrap();
        let key = self.path(&format!("{name}.key"));
        let csr = self.path(&format!("{name}.csr"));
        let cert = self.path(&format!("{name}.crt"));
        let subject = format!("/CN={name}");
        let mut args = vec!["req"];
        args.extend(NEW_P256_KEY);
        args.extend([
            key.as_str(),
            "-out",
            csr.as_str(),
            "-subj",
            subject.as_str(),
        ]);
        openssl(&args);
        let (ca, ca_key) = (self.ca(), self.path("ca.key"));
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
        Leaf { cert, key }
    }
}
