package cavault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/keyway-dev/keyway/sdk"
)

// tokenWait bounds how long an operation waits for a free token session.
const tokenWait = 30 * time.Second

// Prefixes of crypto11's error messages at each step of opening a
// token. crypto11 exports no error values for them; the tests open real
// tokens, so a new crypto11 that words them otherwise fails them.
const (
	errModulePrefix  = "failed to create module context"
	errSlotsPrefix   = "failed to list PKCS#11 slots"
	errTokenNotFound = "could not find PKCS#11 token"
)

// openToken loads the module, finds the token and logs in with the PIN
// from the pin file. A problem of the configuration is a diagnostic on
// the attribute at fault.
//
// PKCS#11 login state belongs to the process: while an earlier context
// on the same token is open, the token reports "already logged in" and
// the PIN is not checked again. keyway configures each plugin process
// once, so the one login is always checked.
func openToken(c pkcs11Config) (*crypto11.Context, error) {
	var diags sdk.Diagnostics
	if fi, err := os.Stat(c.Module); errors.Is(err, fs.ErrNotExist) {
		diags.Add("pkcs11.module", fmt.Sprintf("PKCS#11 module %s does not exist", c.Module),
			"module must be the path of the token's PKCS#11 library; for SoftHSM2 on Debian, /usr/lib/softhsm/libsofthsm2.so (package softhsm2)")
	} else if err != nil {
		diags.Add("pkcs11.module", fmt.Sprintf("cannot use PKCS#11 module %s: %v", c.Module, err), "")
	} else if !fi.Mode().IsRegular() {
		diags.Add("pkcs11.module", fmt.Sprintf("PKCS#11 module %s is not a file", c.Module), "module must be the path of the token's PKCS#11 library")
	}
	pin, err := readPIN(c.PINFile)
	if err != nil {
		diags.Add("pkcs11.pin_file", err.Error(), "pin_file must be a file of mode 0600 (or 0400), owned by keyway's user, holding the token's user PIN")
	}
	if len(diags) > 0 {
		return nil, diags
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:            c.Module,
		TokenLabel:      c.TokenLabel,
		Pin:             pin,
		PoolWaitTimeout: tokenWait,
	})
	if err != nil {
		return nil, tokenOpenError(c, err)
	}
	return ctx, nil
}

// tokenOpenError turns crypto11's error from opening a token into a
// diagnostic on the attribute at fault.
func tokenOpenError(c pkcs11Config, err error) error {
	var diags sdk.Diagnostics
	var code pkcs11.Error
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, errModulePrefix), strings.HasPrefix(msg, errSlotsPrefix):
		diags.Add("pkcs11.module", fmt.Sprintf("cannot load PKCS#11 module %s: %v", c.Module, err),
			"module must be a PKCS#11 library (a shared object exporting C_GetFunctionList) built for this machine")
	case strings.Contains(msg, errTokenNotFound):
		diags.Add("pkcs11.token_label", fmt.Sprintf("no token labelled %q in PKCS#11 module %s", c.TokenLabel, c.Module),
			"list the module's tokens with its tools (softhsm2-util --show-slots, or pkcs11-tool --module MODULE --list-token-slots) and give one's label")
	case errors.As(err, &code) && isPINError(code):
		diags.Add("pkcs11.pin_file", fmt.Sprintf("token %q refused the PIN in %s: %s", c.TokenLabel, c.PINFile, pinErrorText(code)),
			"pin_file must hold the token's user PIN (not the SO PIN)")
	default:
		return fmt.Errorf("opening PKCS#11 token %q with %s: %w", c.TokenLabel, c.Module, err)
	}
	return diags
}

// isPINError reports whether code is a login failure due to the PIN.
func isPINError(code pkcs11.Error) bool {
	switch code {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED, pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		return true
	}
	return false
}

// pinErrorText says in words why the token refused a PIN.
func pinErrorText(code pkcs11.Error) string {
	switch code {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
		return fmt.Sprintf("wrong PIN (%v)", code)
	case pkcs11.CKR_PIN_LOCKED:
		return fmt.Sprintf("the user PIN is locked after too many wrong attempts; the token's security officer must unlock it (%v)", code)
	case pkcs11.CKR_PIN_EXPIRED:
		return fmt.Sprintf("the user PIN has expired; set a new one with the token's tools (%v)", code)
	case pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		return fmt.Sprintf("the token has no user PIN yet; initialise it with the token's tools (%v)", code)
	}
	return code.Error()
}
