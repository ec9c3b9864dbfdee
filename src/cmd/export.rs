//! `ca export`: an issued certificate in another format, or in a PFX with the key its holder
//! kept.

use std::path::{Path, PathBuf};

use ca_core::export::CertificateFormat;
use ca_core::export::pkcs12::{PfxPassword, PfxProfile};
use ca_core::{CertificateRef, Choice, Passphrase, PrivateKey};

use crate::cmd::Refused;
use crate::output::{OutFile, Printed, emit};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, the certificate's serial number in hex, or its thumbprint: SHA-1 (as
    /// Windows shows it) or SHA-256, 40 or 64 hex digits, colons and spaces allowed.
    #[arg(value_name = "ID|SERIAL|THUMBPRINT")]
    id: CertificateRef,
    /// pem (certificate, then root; the default), crt (PEM, the certificate alone, as `ca issue` writes NAME.crt), der (certificate alone), p7b or p7b-pem (PKCS#7: certificate, then root), or pfx (PKCS#12: the key given with --key, the certificate and the root).
    #[arg(long, value_parser = crate::cmd::choice::<ExportFormat>())]
    format: Option<ExportFormat>,
    /// Write to FILE instead of standard output (`-`); a PFX only to a new file, mode 0600.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// For pfx: the certificate's key, as its request left it (PEM: PKCS#8 such as NAME.key,
    /// encrypted or not, or OpenSSL's traditional PKCS#1 RSA or SEC1 EC key).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// For pfx: the passphrase of an encrypted --key, in FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// For pfx: the password that protects it, in FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pfx_password_file: Option<PathBuf>,
    /// For pfx: compat (every Windows since Server 2003) or modern (Windows Server 2019 and later).
    #[arg(long, value_parser = crate::cmd::choice::<PfxProfile>(), value_name = "PROFILE")]
    pfx_profile: Option<PfxProfile>,
}

/// What `ca export` writes: a certificate format, or a PFX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    Pem,
    Crt,
    Der,
    P7b,
    P7bPem,
    Pfx,
}

impl Choice for ExportFormat {
    const WHAT: &'static str = "format";
    const ALL: &'static [Self] = &[
        ExportFormat::Pem,
        ExportFormat::Crt,
        ExportFormat::Der,
        ExportFormat::P7b,
        ExportFormat::P7bPem,
        ExportFormat::Pfx,
    ];

    fn name(self) -> &'static str {
        match (self, self.certificate()) {
            (ExportFormat::Crt, _) => "crt",
            (_, Some(format)) => format.name(),
            (_, None) => "pfx",
        }
    }
}

impl ExportFormat {
    /// The certificate format, or `None` for a PFX.
    fn certificate(self) -> Option<CertificateFormat> {
        match self {
            ExportFormat::Pem | ExportFormat::Crt => Some(CertificateFormat::Pem),
            ExportFormat::Der => Some(CertificateFormat::Der),
            ExportFormat::P7b => Some(CertificateFormat::P7b),
            ExportFormat::P7bPem => Some(CertificateFormat::P7bPem),
            ExportFormat::Pfx => None,
        }
    }
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let pfx_options = args.pfx_profile.is_some()
        || args.key.is_some()
        || args.key_passphrase_file.is_some()
        || args.pfx_password_file.is_some();
    let chosen = match args.format {
        Some(format) => format,
        None if pfx_options => {
            return Err(Refused(
                "--key, --key-passphrase-file, --pfx-password-file and --pfx-profile make a PFX: add --format pfx (without --format, ca export writes PEM, which holds no key)".into(),
            )
            .into());
        }
        None => {
            crate::output::refuse_pem_in_a_file_named_otherwise(
                args.out.as_deref(),
                "ca export",
                "add --format pfx with --key and --pfx-password-file, or name the file .crt or .pem",
            )?;
            ExportFormat::Pem
        }
    };
    let Some(format) = chosen.certificate() else {
        return pfx(data, args).await;
    };
    if pfx_options {
        return Err(Refused(format!(
            "--key, --key-passphrase-file, --pfx-password-file and --pfx-profile go with --format pfx; a {} file holds no key",
            chosen.name()
        ))
        .into());
    }
    let authority = crate::cmd::open_read(data).await?;
    let row = authority.find(&args.id).await?;
    let cert = certificate_of(&row)?;
    // crt: the certificate alone, as the .crt of `ca issue`.
    let chain: &[&[u8]] = if chosen == ExportFormat::Crt {
        &[]
    } else {
        &[authority.root().der()]
    };
    let bytes = format.render(&cert.der, chain)?;
    emit(
        data,
        crate::output::named(args.out.as_deref()),
        &bytes,
        format.is_binary(),
    )
}

/// `--format pfx`: the certificate, its root and the key its holder kept, which is checked to
/// be the certificate's; written only to a file, mode 0600, never over one holding a key.
async fn pfx(data: &Path, args: Args) -> anyhow::Result<()> {
    let (Some(key_path), Some(password_path), Some(out_path)) =
        (&args.key, &args.pfx_password_file, &args.out)
    else {
        return Err(Refused(
            "--format pfx needs the certificate's key (--key FILE, such as NAME.key), a password (--pfx-password-file FILE) and a file to write (--out NAME.pfx): the CA keeps no server's key"
                .into(),
        )
        .into());
    };
    let stdin = Path::new("-");
    let from_stdin = [
        Some(key_path.as_path()),
        Some(password_path.as_path()),
        args.key_passphrase_file.as_deref(),
    ]
    .into_iter()
    .filter(|path| *path == Some(stdin))
    .count();
    if from_stdin > 1 {
        return Err(Refused(
            "--key, --pfx-password-file and --key-passphrase-file cannot share standard input (-): give all but one of them a file".into(),
        )
        .into());
    }
    if out_path.as_path() == stdin {
        return Err(Refused(
            "a PFX holds a key, so it is written only to a new file (--out NAME.pfx, mode 0600), never to standard output".into(),
        )
        .into());
    }
    // A PFX is a new secret: it replaces no file, whatever that file holds, and goes into no
    // device or pipe (/dev/stdout), where its mode would not protect it.
    if out_path.symlink_metadata().is_ok() {
        return Err(Refused(format!(
            "{} already exists: a PFX is written only to a new file; choose another --out name, or move that file away",
            out_path.display()
        ))
        .into());
    }
    let out = OutFile::open(out_path, data)?;
    let authority = crate::cmd::open_read(data).await?;
    let row = authority.find(&args.id).await?;
    let cert = certificate_of(&row)?;
    if matches!(
        row.status,
        ca_core::store::Status::Revoked | ca_core::store::Status::Expired
    ) {
        tell!(
            "ca: warning: certificate {} is {}: clients will refuse it, in a PFX as anywhere (`{} list --name NAME` shows its successor, if any)",
            row.id,
            row.status,
            crate::invocation::ca()
        );
    }
    let spki = ca_core::certificate::public_key_info(&cert.der)?;
    let file = crate::cmd::read_input(key_path, "key")?;
    if args.key_passphrase_file.is_none() && ca_core::key::holds_an_encrypted_key(&file) {
        return Err(Refused(format!(
            "{} is encrypted: give its passphrase with --key-passphrase-file FILE",
            key_path.display()
        ))
        .into());
    }
    let passphrase = match &args.key_passphrase_file {
        Some(path) => Some(Passphrase::new(crate::cmd::read_password(
            path,
            "key passphrase",
        )?)?),
        None => None,
    };
    let key = PrivateKey::of_certificate(
        &file,
        passphrase.as_ref(),
        cert.key_algorithm,
        &spki,
        &key_path.display().to_string(),
    )?;
    let password = PfxPassword::new(crate::cmd::read_password(password_path, "PFX password")?)?;
    let bytes = ca_core::issue::pfx_with_key(
        &row,
        &key,
        &[authority.root().der().to_vec()],
        &password,
        args.pfx_profile.unwrap_or_default(),
    )?;
    out.write_new_secret(&bytes)?;
    tell!(
        "ca: wrote {} (key, certificate {} and root; {} profile, mode 0600: keep it secret)",
        out_path.printed(),
        row.id,
        args.pfx_profile.unwrap_or_default()
    );
    Ok(())
}

/// The certificate of `row`, or a refusal saying what the request is instead.
fn certificate_of(
    row: &ca_core::store::Issuance,
) -> anyhow::Result<&ca_core::store::CertificateRecord> {
    Ok(row.certificate.as_ref().ok_or_else(|| {
        Refused(format!(
            "request {} has no certificate: it is {}",
            row.id, row.status
        ))
    })?)
}
