// Package cavault is keyway's built-in CA plugin: the vault of the
// cluster's four certificate authorities (user, host, db and db-client),
// each with its own key, and the signer of every certificate keyway issues.
//
// # Backends
//
// The "managed" backend (the default) generates the four authorities on
// the first start, keeps them under the plugin's data directory and can
// rotate them. The "file" backend signs with CA certificates and keys the
// operator provides, one pair per authority; it cannot rotate them. The
// "pkcs11" backend generates the authorities' keys inside a PKCS#11 token
// (an HSM, a smart card, SoftHSM2), signs with them there, and can rotate
// them; their private halves never leave the token.
//
//	plugin "ca-vault" {
//	  config {
//	    backend       = "managed"      # the default
//	    key_algorithm = "ecdsa-p256"   # or "rsa-2048", "rsa-4096"; managed only
//	  }
//	}
//
//	plugin "ca-vault" {
//	  config {
//	    backend = "file"
//	    authority {
//	      type      = "user"           # user, host, db, db-client: all four, once each
//	      cert_file = "/etc/keyway/user-ca.crt"
//	      key_file  = "/etc/keyway/user-ca.key"
//	    }
//	    # ... three more authority blocks
//	  }
//	}
//
//	plugin "ca-vault" {
//	  config {
//	    backend = "pkcs11"
//	    pkcs11 {
//	      module        = "/usr/lib/softhsm/libsofthsm2.so"
//	      token_label   = "keyway-ca"
//	      pin_file      = "/etc/keyway/token.pin"   # mode 0600; the PIN itself
//	      key_algorithm = "ecdsa-p256"              # or "rsa-2048"
//	    }
//	  }
//	}
//
// A file backend's cert_file holds the issuing CA certificate first; any
// further certificates in it are its parents and are returned after it in
// each signed certificate's chain. key_file holds its unencrypted private
// key (PKCS#8, SEC 1 or PKCS#1 PEM).
//
// # Managed storage and its protection
//
// The managed backend keeps its state in DATA_DIR/managed (mode 0700),
// every file mode 0600:
//
//	kek                  the 32-byte key-encryption key
//	authorities.json     which keys each authority has, active first, and
//	                     when each retired one stops being trusted
//	TYPE-ID.crt          a CA certificate, PEM
//	TYPE-ID.key          its PKCS#8 private key sealed with AES-256-GCM
//	                     under the kek, bound to TYPE and ID
//
// The encryption protects key files that travel without the kek: a backup
// or copy of the key files alone, a file sent somewhere by mistake. It does
// not protect against anyone who can read the whole directory (root on the
// host, the keyway user, a backup that includes kek): they can decrypt the
// keys as keyway does. Keep kek out of backups that need not restore the
// CA, and use the pkcs11 backend where keys must not be extractable.
//
// The directory is created whole on the first start (built in a temporary
// directory and renamed into place), so a crash never leaves half an
// initialisation. A directory that exists but lacks authorities.json is
// refused rather than overwritten: new authorities would silently
// invalidate every certificate the cluster has issued.
//
// # PKCS#11 storage
//
// The pkcs11 backend logs into the token labelled token_label through the
// module, with the user PIN read from pin_file. The PIN is never in the
// configuration, a command line or an error message, and a pin_file that
// group or others may access is refused. Each authority's key pair lives
// in the token:
//
//	CKA_LABEL   keyway-CLUSTER-TYPE for an authority's first key,
//	            keyway-CLUSTER-TYPE-ID for the keys rotation adds
//	CKA_ID      ID, 8 random bytes (shown as 16 hex digits)
//	private     CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and CKA_SIGN true;
//	            CKA_EXTRACTABLE false; for RSA keys CKA_DECRYPT false
//
// On the first start, for each authority, keyway uses the token's key pair
// labelled keyway-CLUSTER-TYPE if there is exactly one (a token
// administrator may provision it, or an interrupted first start may have
// left it), and otherwise generates one in the token. It refuses a key
// that is not sensitive or is extractable. It then self-signs, with the
// token key, a CA certificate like the managed backend's.
//
// The rest of the state is on disk, in DATA_DIR/pkcs11: authorities.json
// (which also records each key's label) and the TYPE-ID.crt certificates,
// with the same atomic creation and the same refusal of a directory that
// lacks its index as the managed backend. The certificates are kept there
// rather than in the token because the index must be on disk anyway
// (PKCS#11 has no transactions, and one atomic index write commits a
// rotation, which certificates in the token could contradict after a
// crash); certificates are public, and tokens' storage is often small.
// Trust does not rest on these files: every start checks each certificate
// against the public half of its token key and refuses a mismatch. Back
// the directory up all the same: if it is lost, the next start
// re-certifies the token's keyway-CLUSTER-TYPE keys (what they signed
// still verifies), but forgets rotated keys.
//
// Health reads an attribute of each active key, so it fails when the
// token session is broken (token removed, HSM unreachable) or a key was
// destroyed. Changing key_algorithm affects keys generated from then on.
//
// # Rotation
//
// Rotate (managed and pkcs11 backends) walks one authority through the
// phases of sdk.CheckPhaseChange. init generates a new key and
// certificate and trusts both keys while the old one still signs;
// update_clients signs client certificates (no "server" usage) with the
// new key; update_servers signs everything with it; standby drops the old
// key, destroying its files and token key pair. rollback, from any phase
// before standby, signs with the old key again, and the standby after it
// drops the new key. The phase is kept in the index, so it survives
// restarts. While two keys are trusted, every chain handed out with a
// certificate carries, instead of the signer's own certificate, the
// signer cross-certified by the other key and the other key's
// certificate, so a client that trusts (or pins) either key
// verifies it; CA certificates are made with path length 1 for that.
// Indexes of an earlier keyway may still list old keys with a retirement
// time; those are dropped when it passes. A key pair that a crash left in
// the token between its generation and the index write stays there
// unused; delete
// it with the token's tools.
package cavault
