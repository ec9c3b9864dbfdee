//! `ca issue`: a server certificate and its key, written as files.

use std::path::{Path, PathBuf};

use ca_core::export::pkcs12::{PfxPassword, PfxProfile};
use ca_core::files::{PUBLIC_MODE, SECRET_MODE, write_atomic};
use ca_core::{
    Authority, InitOptions, IssueRequest, Issued, KeyAlgorithm, Passphrase, Profile, SubjectName,
};

use crate::cmd::{CLI_CONNECTIONS, Refused, init::describe_new_root, passphrase};
use crate::output::human;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// DNS names (the first becomes the CN) and IP addresses the certificate is for.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
    /// An IP address to add to the certificate; repeatable.
    #[arg(long = "ip", value_name = "ADDR")]
    ips: Vec<String>,
    /// The key: rsa2048 (works with every Windows since XP), rsa3072, rsa4096, ecdsa-p256, ecdsa-p384.
    #[arg(long, default_value = "rsa2048", value_name = "ALG")]
    key: String,
    /// How long the certificate is valid, in days (at most 825) [default: 397]
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    #[command(flatten)]
    files: FileArgs,
    /// Accept names that resolve only inside a private network (MAIL, srv01.corp.local, ...).
    #[arg(long)]
    allow_internal: bool,
    /// Also allow TLS client authentication with this certificate.
    #[arg(long)]
    client_auth: bool,
}

/// Where `ca issue` and `ca renew` write, and whether they also write a PFX.
#[derive(clap::Args, Debug)]
pub(crate) struct FileArgs {
    /// Folder to write the files into.
    #[arg(long, default_value = ".", value_name = "DIR")]
    out: PathBuf,
    /// Also write NAME.pfx (key, certificate and root), protected by the password in FILE
    /// (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pfx_password_file: Option<PathBuf>,
    /// Encrypt NAME.key (PBES2, AES-256) with the passphrase in FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// compat (every Windows since Server 2003) or modern (Windows Server 2019 and later).
    #[arg(long, default_value = "compat", value_name = "PROFILE")]
    pfx_profile: String,
    /// Replace files of the same names in the output folder.
    #[arg(long)]
    force: bool,
}

impl FileArgs {
    /// The files to write for `stem`, once every argument is read and nothing would be
    /// overwritten by mistake: all of this before anything is issued.
    pub(crate) fn prepare(&self, stem: &str) -> anyhow::Result<OutputFiles> {
        let profile: PfxProfile = self.pfx_profile.parse()?;
        let password = match &self.pfx_password_file {
            Some(path) => Some(PfxPassword::new(crate::cmd::read_password(
                path,
                "PFX password",
            )?)?),
            None => None,
        };
        if !self.out.is_dir() {
            return Err(Refused(format!(
                "the output folder {} does not exist",
                self.out.display()
            ))
            .into());
        }
        let key_passphrase = match &self.key_passphrase_file {
            Some(path) => Some(Passphrase::new(crate::cmd::read_password(
                path,
                "key passphrase",
            )?)?),
            None => None,
        };
        let mut files = OutputFiles::new(&self.out, stem, password.map(|p| (p, profile)));
        files.key_passphrase = key_passphrase;
        if !self.force
            && let Some(existing) = files.existing()
        {
            return Err(Refused(format!(
                "{} already exists: move it away, choose another --out folder, or pass --force to replace it",
                existing.display()
            ))
            .into());
        }
        Ok(files)
    }
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let mut names = args
        .names
        .iter()
        .map(|n| n.parse::<SubjectName>())
        .collect::<Result<Vec<_>, _>>()?;
    for ip in &args.ips {
        match ip.parse::<SubjectName>()? {
            name @ SubjectName::Ip(_) => names.push(name),
            SubjectName::Dns(_) => {
                return Err(Refused(format!(
                    "--ip '{ip}' is not an IP address; give DNS names without --ip"
                ))
                .into());
            }
        }
    }
    let key: KeyAlgorithm = args.key.parse()?;
    let stem = match names.iter().find_map(SubjectName::dns) {
        Some(dns) => dns.file_stem(),
        None => names[0].to_string().replace(':', "_"),
    };
    let files = args.files.prepare(&stem)?;

    let init = InitOptions {
        name: None,
        permitted: Vec::new(),
        passphrase: passphrase()?,
        actor: "cli".into(),
        ..InitOptions::default()
    };
    let authority = if Authority::exists(data) {
        crate::cmd::open(data).await?
    } else {
        // Refuse bad names before creating anything.
        ca_core::NamePolicy {
            allow_internal: args.allow_internal,
            permitted: Vec::new(),
        }
        .check(&names)?;
        let init = InitOptions {
            name: Some(ca_core::authority::default_root_name(
                names.iter().find_map(SubjectName::dns),
            )),
            ..init
        };
        let (authority, created) = Authority::open_or_init(data, init, CLI_CONNECTIONS).await?;
        if created {
            eprintln!(
                "ca: there was no CA in {}, so one was created first:",
                data.display()
            );
            describe_new_root(&authority);
        }
        authority
    };
    let issued = authority
        .issue(IssueRequest {
            names,
            key,
            days: args.days,
            profile: if args.client_auth {
                Profile::ServerAndClient
            } else {
                Profile::Server
            },
            allow_internal: args.allow_internal,
            requester: "cli".into(),
        })
        .await?;
    files.write(&issued)?;
    describe(&issued, &files);
    Ok(())
}

pub(crate) struct OutputFiles {
    leaf: PathBuf,
    key: PathBuf,
    chain: PathBuf,
    pfx: Option<(PathBuf, PfxPassword, PfxProfile)>,
    key_passphrase: Option<Passphrase>,
}

impl OutputFiles {
    fn new(dir: &Path, stem: &str, pfx: Option<(PfxPassword, PfxProfile)>) -> Self {
        OutputFiles {
            leaf: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
            chain: dir.join(format!("{stem}-chain.pem")),
            key_passphrase: None,
            pfx: pfx
                .map(|(password, profile)| (dir.join(format!("{stem}.pfx")), password, profile)),
        }
    }

    fn existing(&self) -> Option<&Path> {
        [
            Some(&self.leaf),
            Some(&self.key),
            Some(&self.chain),
            self.pfx.as_ref().map(|(p, ..)| p),
        ]
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .map(PathBuf::as_path)
    }

    pub(crate) fn write(&self, issued: &Issued) -> anyhow::Result<()> {
        let key = issued
            .key
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the authority returned no key"))?;
        write_atomic(
            &self.key,
            key.to_pem(self.key_passphrase.as_ref())?.as_bytes(),
            SECRET_MODE,
        )?;
        write_atomic(&self.leaf, issued.leaf_pem().as_bytes(), PUBLIC_MODE)?;
        write_atomic(&self.chain, issued.chain_pem().as_bytes(), PUBLIC_MODE)?;
        if let Some((path, password, profile)) = &self.pfx {
            let pfx = issued.pfx(password, *profile)?;
            write_atomic(path, &pfx, SECRET_MODE)?;
        }
        Ok(())
    }
}

pub(crate) fn describe(issued: &Issued, files: &OutputFiles) {
    let row = &issued.issuance;
    let Some(cert) = &row.certificate else { return };
    println!("Issued certificate {} for {}", row.id, row.names.join(", "));
    println!("  serial   {}", cert.serial);
    println!(
        "  valid    {} to {}",
        human(cert.not_before),
        human(cert.not_after)
    );
    println!("  key      {}", cert.key_algorithm);
    println!(
        "  SHA-256  {}",
        ca_core::Fingerprint::of(&issued.leaf).colons()
    );
    if issued.shortened_to_root {
        println!("  note     the validity was shortened to end with the root's");
    }
    println!("Wrote {}", files.leaf.display());
    println!(
        "      {} (private key, mode 0600: keep it secret)",
        files.key.display()
    );
    println!(
        "      {} (certificate and root, for servers that want the chain)",
        files.chain.display()
    );
}
