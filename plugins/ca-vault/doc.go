// Package cavault is keyway's built-in CA plugin: the vault of the
// cluster's four certificate authorities (user, host, db and db-client),
// each with its own key, and the signer of every certificate keyway issues.
//
// # Backends
//
// The "managed" backend (the default) generates the four authorities on
// the first start, keeps them under the plugin's data directory and can
// rotate them. The "file" backend signs with CA certificates and keys the
// operator provides, one pair per authority; it cannot rotate them.
//
//	plugin "ca-vault" {
//	  config {
//	    backend       = "managed"      # or "file"
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
// CA, and use an external key store where keys must not be extractable.
//
// The directory is created whole on the first start (built in a temporary
// directory and renamed into place), so a crash never leaves half an
// initialisation. A directory that exists but lacks authorities.json is
// refused rather than overwritten: new authorities would silently
// invalidate every certificate the cluster has issued.
//
// # Rotation
//
// Rotate generates a new key and certificate for one authority. The new
// one signs from then on; the old one stays in the authority's trusted
// certificates (phase "rotating") until its grace period ends and is then
// dropped from the state and the disk. Certificates signed before the
// rotation therefore keep verifying during the grace period, which should
// be at least the longest TTL issued.
package cavault
