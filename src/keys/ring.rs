//! The keys a run signs with, each in its role, made on first use or in the background.

use super::*;

/// A role a key plays in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// Signs the good tokens; published.
    Primary,
    /// A second published key (wrong-kid case, rotation).
    Secondary,
    /// A published 1024-bit key (weak-key case).
    Weak,
    /// Never published: signs the "key not in the JWKS" case.
    Outside,
    /// Never published by the IdP's JWKS: the attacker's key for `jwk`/`jku`/`x5u` cases.
    Attacker,
    /// Published only when the key-rotation case rotates it in; made with the others, so
    /// that case does not wait for a key generation of its own.
    Rotation,
}

impl KeyRole {
    /// Every role, in the order the ring holds them.
    pub const ALL: [KeyRole; 6] = [
        KeyRole::Primary,
        KeyRole::Secondary,
        KeyRole::Weak,
        KeyRole::Outside,
        KeyRole::Attacker,
        KeyRole::Rotation,
    ];

    /// Every role, in the order a conformance run first needs them: the published keys
    /// before the IdP starts, the key-rotation case's key (the first case of the built-in
    /// profiles), then the catalogue's `key-not-in-jwks` and attacker cases.
    pub const RUN_ORDER: [KeyRole; 6] = [
        KeyRole::Primary,
        KeyRole::Secondary,
        KeyRole::Weak,
        KeyRole::Rotation,
        KeyRole::Outside,
        KeyRole::Attacker,
    ];

    /// The roles the IdP publishes.
    pub const PUBLISHED: [KeyRole; 3] = [KeyRole::Primary, KeyRole::Secondary, KeyRole::Weak];

    /// The size of key made for this role when the ring makes it.
    fn bits(self) -> KeyBits {
        match self {
            KeyRole::Weak => KeyBits::Weak1024,
            _ => KeyBits::B2048,
        }
    }
}

/// One role's key: given, made on first use, or absent (a folder without a second key).
#[derive(Debug)]
struct Slot {
    /// The key once made or given; `None` inside when its generation failed. Whoever asks
    /// for a key being made waits for it (`OnceLock::get_or_init`), so a key is made once.
    key: OnceLock<Option<Arc<SigningKey>>>,
    /// Whether the ring makes the key when it is asked for and none was given.
    made_on_demand: bool,
}

impl Slot {
    fn on_demand() -> Self {
        Slot {
            key: OnceLock::new(),
            made_on_demand: true,
        }
    }

    fn given(key: Option<SigningKey>) -> Self {
        let slot = Slot {
            key: OnceLock::new(),
            made_on_demand: false,
        };
        if let Some(key) = key {
            let _ = slot.key.set(Some(Arc::new(key)));
        }
        slot
    }

    /// Whether the key is still to be made.
    fn missing(&self) -> bool {
        self.made_on_demand && self.key.get().is_none()
    }
}

/// The keys a run signs with, each in its role. A key is made only when something asks for
/// it (RSA key generation is most of a short run's time): a `static` or `hs256` run makes
/// none. [`KeyRing::prepare`] makes several at once, in parallel, and
/// [`KeyRing::make_in_background`] starts making them while the run goes on; asking for a key
/// being made waits for that key only. Keys read from a folder
/// take their roles by file-name order (the first two strong keys, the first weak key); the
/// unpublished roles are always made. Clones share the same keys.
#[derive(Clone, Debug)]
pub struct KeyRing {
    slots: Arc<[Slot; 6]>,
}

impl KeyRing {
    /// A ring whose six keys (five 2048-bit, one 1024-bit) are made on first use.
    pub fn on_demand() -> Self {
        KeyRing {
            slots: Arc::new(std::array::from_fn(|_| Slot::on_demand())),
        }
    }

    /// A ring with every key made now, in parallel.
    pub fn generate() -> Result<Self, KeyError> {
        let ring = KeyRing::on_demand();
        ring.prepare(&KeyRole::ALL)?;
        Ok(ring)
    }

    /// Takes roles from keys read from a folder; the keys outside the JWKS are made on use.
    /// A key whose file is named for a role (`primary.pem`, `secondary.pem`, `weak.pem`) plays
    /// it; the other roles take the remaining keys in file-name order (the first strong keys,
    /// the first weak key). So a pinned-key authorizer's key is `primary.pem`, whatever else
    /// the folder holds.
    pub fn from_keys(keys: Vec<SigningKey>, dir: &Path) -> Result<Self, KeyError> {
        let mut named: [Option<SigningKey>; 3] = [None, None, None];
        let mut rest = Vec::new();
        for key in keys {
            let role = ["primary", "secondary", "weak"]
                .iter()
                .position(|r| key.kid().eq_ignore_ascii_case(r));
            match role {
                Some(i) => {
                    let weak_role = i == 2;
                    if key.is_weak() != weak_role {
                        return Err(KeyError::WrongRole {
                            kid: key.kid().to_string(),
                            wanted: if weak_role {
                                "1024-bit (weak)"
                            } else {
                                "2048-bit or larger"
                            },
                            dir: dir.to_path_buf(),
                        });
                    }
                    named[i] = Some(key);
                }
                None => rest.push(key),
            }
        }
        let (weak, strong): (Vec<_>, Vec<_>) = rest.into_iter().partition(SigningKey::is_weak);
        let mut strong = strong.into_iter();
        let [primary, secondary, weak_named] = named;
        let primary = primary
            .or_else(|| strong.next())
            .ok_or_else(|| KeyError::NoStrongKey {
                dir: dir.to_path_buf(),
            })?;
        let secondary = secondary.or_else(|| strong.next());
        let weak = weak_named.or_else(|| weak.into_iter().next());
        Ok(KeyRing {
            slots: Arc::new([
                Slot::given(Some(primary)),
                Slot::given(secondary),
                Slot::given(weak),
                Slot::on_demand(),
                Slot::on_demand(),
                Slot::on_demand(),
            ]),
        })
    }

    fn slot(&self, role: KeyRole) -> &Slot {
        let index = KeyRole::ALL
            .iter()
            .position(|r| *r == role)
            .expect("every role has a slot");
        &self.slots[index]
    }

    /// The key of `role`, made now if it has to be (or waited for, if it is being made);
    /// `None` for a role the ring lacks.
    pub fn get(&self, role: KeyRole) -> Result<Option<Arc<SigningKey>>, KeyError> {
        let slot = self.slot(role);
        if !slot.made_on_demand {
            return Ok(slot.key.get().cloned().flatten());
        }
        slot.key
            .get_or_init(|| SigningKey::generate(role.bits()).ok().map(Arc::new))
            .clone()
            .map(Some)
            .ok_or(KeyError::Generate {
                bits: role.bits().bits(),
            })
    }

    /// Starts making every key of `roles` not made yet, in that order, on background threads
    /// (one per core), and returns at once. A run starts this first, so key generation
    /// overlaps the IdP and target start-up and the first cases; a case that needs a key
    /// waits only for that key. A failed generation is reported to whoever asks for the key.
    pub fn make_in_background(&self, roles: &[KeyRole]) -> Vec<std::thread::JoinHandle<()>> {
        let queue: std::collections::VecDeque<KeyRole> = roles
            .iter()
            .copied()
            .filter(|r| self.slot(*r).missing())
            .collect();
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(queue.len());
        let queue = Arc::new(std::sync::Mutex::new(queue));
        (0..workers)
            .filter_map(|_| {
                let (ring, queue) = (self.clone(), queue.clone());
                std::thread::Builder::new()
                    .name("authprobe-keys".into())
                    .spawn(move || {
                        loop {
                            let next = queue.lock().expect("key queue lock").pop_front();
                            let Some(role) = next else { break };
                            // The result stays in the slot for whoever asks.
                            let _ = ring.get(role);
                        }
                    })
                    // Without a thread, each key is made by whoever first asks for it.
                    .ok()
            })
            .collect()
    }

    /// Makes every key of `roles` not made yet, in parallel on all cores, and returns when
    /// they are all made.
    pub fn prepare(&self, roles: &[KeyRole]) -> Result<(), KeyError> {
        for worker in self.make_in_background(roles) {
            worker.join().expect("key generation thread");
        }
        roles.iter().try_for_each(|r| self.get(*r).map(drop))
    }

    /// The key that signs the good tokens.
    pub fn primary(&self) -> Result<Arc<SigningKey>, KeyError> {
        Ok(self
            .get(KeyRole::Primary)?
            .expect("a ring always has a primary key"))
    }

    /// The second published key, if the ring has one.
    pub fn secondary(&self) -> Result<Option<Arc<SigningKey>>, KeyError> {
        self.get(KeyRole::Secondary)
    }

    /// The published 1024-bit key, if the ring has one.
    pub fn weak(&self) -> Result<Option<Arc<SigningKey>>, KeyError> {
        self.get(KeyRole::Weak)
    }

    /// The key never published.
    pub fn outside(&self) -> Result<Arc<SigningKey>, KeyError> {
        Ok(self
            .get(KeyRole::Outside)?
            .expect("the outside key is made on demand"))
    }

    /// The attacker's key.
    pub fn attacker(&self) -> Result<Arc<SigningKey>, KeyError> {
        Ok(self
            .get(KeyRole::Attacker)?
            .expect("the attacker key is made on demand"))
    }

    /// The key the key-rotation case publishes mid-run.
    pub fn rotation(&self) -> Result<Arc<SigningKey>, KeyError> {
        Ok(self
            .get(KeyRole::Rotation)?
            .expect("the rotation key is made on demand"))
    }

    /// The keys the IdP publishes (primary, secondary and weak), made now if they have to be.
    pub fn published(&self) -> Result<Vec<Arc<SigningKey>>, KeyError> {
        self.prepare(&KeyRole::PUBLISHED)?;
        KeyRole::PUBLISHED
            .iter()
            .filter_map(|r| self.get(*r).transpose())
            .collect()
    }

    /// How many keys have been made or read so far (for tests and benches).
    pub fn made(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.key.get().is_some_and(Option::is_some))
            .count()
    }
}
