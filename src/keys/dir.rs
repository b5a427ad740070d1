//! Key folders: private keys as PKCS#8 PEM files (mode 0600) beside the public `jwks.json`,
//! written so that a refusal writes nothing and a crash leaves no half-written key.

use super::*;

/// What to do when the folder already holds keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (the default).
    Refuse,
    /// Keep them and add the new keys.
    Add,
    /// Delete them and write the new keys.
    Replace,
}

/// A folder of `<kid>.pem` files (mode 0600) with a `jwks.json` of their public halves.
#[derive(Clone, Debug)]
pub struct KeyDir {
    path: PathBuf,
}

impl KeyDir {
    /// The folder at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KeyDir { path: path.into() }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn pem_files(&self) -> Result<Vec<PathBuf>, KeyError> {
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(KeyError::ReadDir {
                    dir: self.path.clone(),
                    source,
                });
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// How many key files the folder holds (0 when it does not exist).
    pub fn count(&self) -> Result<usize, KeyError> {
        Ok(self.pem_files()?.len())
    }

    /// Loads every key, in file-name order; the kid is the file stem.
    pub fn load(&self) -> Result<Vec<SigningKey>, KeyError> {
        let keys = self.load_files(&self.pem_files()?)?;
        if keys.is_empty() {
            return Err(KeyError::Empty {
                dir: self.path.clone(),
            });
        }
        Ok(keys)
    }

    /// Checks that `keys generate` can write into this folder with `existing`, before any key
    /// is made: the folder can be listed, holds no keys unless `--add` or `--force` says what
    /// to do with them, and with `--add` every key in it reads.
    pub fn check_store(&self, existing: Existing) -> Result<(), KeyError> {
        let current = self.pem_files()?;
        match existing {
            Existing::Refuse if !current.is_empty() => Err(KeyError::Exists {
                dir: self.path.clone(),
                count: current.len(),
            }),
            Existing::Add => self.load_files(&current).map(drop),
            _ => Ok(()),
        }
    }

    fn load_files(&self, files: &[PathBuf]) -> Result<Vec<SigningKey>, KeyError> {
        files
            .iter()
            .map(|path| {
                let bytes = fs::read(path).map_err(|source| KeyError::Read {
                    path: path.clone(),
                    source,
                })?;
                let pem = String::from_utf8(bytes).map_err(|_| KeyError::Corrupt {
                    path: path.clone(),
                    detail: "not text: a PEM file is ASCII".into(),
                })?;
                let kid = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                SigningKey::from_pem(&pem, path, kid)
            })
            .collect()
    }

    /// Writes `keys` as `<kid>.pem` (0600) and rewrites `jwks.json` for everything in the
    /// folder. Everything is checked first (the keys kept by `Add` all read, no kid is
    /// taken), so a refusal writes nothing; each file is written to a temporary name and
    /// renamed, so a crash leaves no half-written key. Returns the paths written.
    pub fn store(&self, keys: &[SigningKey], existing: Existing) -> Result<Vec<PathBuf>, KeyError> {
        let current = self.pem_files()?;
        if !current.is_empty() && existing == Existing::Refuse {
            return Err(KeyError::Exists {
                dir: self.path.clone(),
                count: current.len(),
            });
        }
        let kept = match existing {
            Existing::Add => self.load_files(&current)?,
            _ => Vec::new(),
        };
        let paths: Vec<PathBuf> = keys
            .iter()
            .map(|k| self.path.join(format!("{}.pem", k.kid())))
            .collect();
        if existing == Existing::Add
            && let Some((key, _)) = keys.iter().zip(&paths).find(|(_, p)| current.contains(p))
        {
            return Err(KeyError::KidTaken {
                kid: key.kid().to_string(),
                dir: self.path.clone(),
            });
        }
        // The published set, in file-name order as `load` reads it back.
        let mut all: Vec<(&Path, &SigningKey)> = current
            .iter()
            .map(PathBuf::as_path)
            .zip(&kept)
            .chain(paths.iter().map(PathBuf::as_path).zip(keys))
            .collect();
        all.sort_by_key(|(path, _)| *path);
        let jwks = serde_json::to_vec_pretty(&JwkSet::of(all.into_iter().map(|(_, k)| k)))
            .expect("JWKS serializes");

        fs::create_dir_all(&self.path).map_err(|source| KeyError::Write {
            path: self.path.clone(),
            source,
        })?;
        for (key, path) in keys.iter().zip(&paths) {
            write_atomic(path, key.to_pkcs8_pem().as_bytes(), 0o600)?;
        }
        if existing == Existing::Replace {
            for old in current.iter().filter(|p| !paths.contains(p)) {
                fs::remove_file(old).map_err(|source| KeyError::Write {
                    path: old.clone(),
                    source,
                })?;
            }
        }
        write_atomic(&self.path.join(JWKS_FILE), &jwks, 0o644)?;
        Ok(paths)
    }
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(err)
}
