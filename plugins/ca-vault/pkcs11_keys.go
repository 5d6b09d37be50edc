package cavault

import (
	"crypto/elliptic"
	"fmt"

	"github.com/ThalesGroup/crypto11"

	"github.com/keyway-dev/keyway/sdk"
)

// tokenKeyLabel is the CKA_LABEL of a's first key pair in the token,
// keyway-CLUSTER-TYPE; rotation adds "-ID" to it.
func tokenKeyLabel(cluster string, a sdk.Authority) string {
	if cluster == "" {
		return "keyway-" + a.String()
	}
	return "keyway-" + cluster + "-" + a.String()
}

// generateTokenKey generates a key pair inside the token, with CKA_ID id
// and CKA_LABEL label on both halves. The private half is private,
// sensitive and not extractable: its value never leaves the token, in
// clear or wrapped. It can sign and nothing else.
//
// crypto11's GenerateXKeyPairWithLabel would leave CKA_PRIVATE to the
// token's default and let an RSA key decrypt; its WithAttributes
// variant, given the same ID and label, sets every attribute explicitly.
func generateTokenKey(token *crypto11.Context, algorithm string, id, label []byte) (crypto11.Signer, error) {
	public, err := crypto11.NewAttributeSetWithIDAndLabel(id, label)
	if err != nil {
		return nil, err
	}
	private := public.Copy()
	for attr, v := range map[crypto11.AttributeType]bool{
		crypto11.CkaPrivate:     true,
		crypto11.CkaSensitive:   true,
		crypto11.CkaExtractable: false,
		crypto11.CkaSign:        true,
	} {
		if err := private.Set(attr, v); err != nil {
			return nil, err
		}
	}
	switch algorithm {
	case algECDSAP256:
		return token.GenerateECDSAKeyPairWithAttributes(public, private, elliptic.P256())
	case algRSA2048:
		if err := private.Set(crypto11.CkaDecrypt, false); err != nil {
			return nil, err
		}
		if err := public.Set(crypto11.CkaEncrypt, false); err != nil {
			return nil, err
		}
		return token.GenerateRSAKeyPairWithAttributes(public, private, 2048)
	}
	return nil, fmt.Errorf("unknown key algorithm %q for the pkcs11 backend", algorithm)
}

// findTokenKey returns the token's one key pair with label and, when id
// is not nil, CKA_ID id; nil when there is none.
func findTokenKey(token *crypto11.Context, id, label []byte) (crypto11.Signer, error) {
	pairs, err := token.FindKeyPairs(id, label)
	if err != nil {
		return nil, fmt.Errorf("searching the token for key pair %q: %w", label, err)
	}
	switch len(pairs) {
	case 0:
		return nil, nil
	case 1:
		return pairs[0], nil
	}
	return nil, fmt.Errorf("the token holds %d key pairs labelled %q with id %x; keyway cannot tell which one is the CA's: remove the others with the token's tools", len(pairs), label, id)
}

// tokenKeyID returns the key pair's CKA_ID.
func tokenKeyID(token *crypto11.Context, key crypto11.Signer) ([]byte, error) {
	attr, err := token.GetAttribute(key, crypto11.CkaId)
	if err != nil {
		return nil, fmt.Errorf("reading the key's CKA_ID: %w", err)
	}
	if attr == nil || len(attr.Value) == 0 {
		return nil, fmt.Errorf("the key has no CKA_ID")
	}
	return attr.Value, nil
}

// checkKeyStaysInToken refuses a private key whose value could be read
// out of the token: one that is not sensitive, or is extractable.
func checkKeyStaysInToken(token *crypto11.Context, key crypto11.Signer, label string) error {
	attrs, err := token.GetAttributes(key, []crypto11.AttributeType{crypto11.CkaSensitive, crypto11.CkaExtractable})
	if err != nil {
		return fmt.Errorf("reading the protection attributes of token key %q: %w", label, err)
	}
	const fix = "keyway uses only keys that cannot leave the token: generate it with CKA_SENSITIVE true and CKA_EXTRACTABLE false, or delete it and let keyway generate one"
	if !attrTrue(attrs[crypto11.CkaSensitive]) {
		return fmt.Errorf("token key %q is not sensitive (CKA_SENSITIVE is false); %s", label, fix)
	}
	if attrTrue(attrs[crypto11.CkaExtractable]) {
		return fmt.Errorf("token key %q is extractable (CKA_EXTRACTABLE is true); %s", label, fix)
	}
	return nil
}

// attrTrue reports whether a is a CK_BBOOL attribute set to true.
func attrTrue(a *crypto11.Attribute) bool {
	return a != nil && len(a.Value) == 1 && a.Value[0] != 0
}
