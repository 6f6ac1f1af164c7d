package acme

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"

	"github.com/renewd/renewd/internal/store"
)

// accountDoesNotExist is RFC 8555's answer to a lookup of an unknown key.
const accountDoesNotExist = "urn:ietf:params:acme:error:accountDoesNotExist"

// account is the ACME account renewd uses for one CA directory URL. It
// implements lego's registration.User.
type account struct {
	Email        string                 `json:"email,omitempty"`
	Directory    string                 `json:"directory"`
	Registration *registration.Resource `json:"registration,omitempty"`
	key          crypto.PrivateKey
}

var _ registration.User = (*account)(nil)

func (a *account) GetEmail() string                        { return a.Email }
func (a *account) GetRegistration() *registration.Resource { return a.Registration }
func (a *account) GetPrivateKey() crypto.PrivateKey        { return a.key }

// accountDir is where the account for directoryURL lives. The host keeps the
// tree readable for a person; the hash keeps two directories on one host
// (staging and production, say) apart and makes the name safe as a path.
func accountDir(accountsDir, directoryURL string) string {
	host := "ca"
	if u, err := url.Parse(directoryURL); err == nil && u.Host != "" {
		host = u.Host
	}
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, host)
	sum := sha256.Sum256([]byte(directoryURL))
	return filepath.Join(accountsDir, host+"-"+hex.EncodeToString(sum[:6]))
}

// loadOrCreateAccount returns the stored account for the directory, creating
// a new account key when there is none. The key is written before any
// registration so that a crash between the two cannot orphan an account at
// the CA: the next run finds the key and resolves the account by it.
func loadOrCreateAccount(accountsDir, directoryURL, email string) (*account, error) {
	dir := accountDir(accountsDir, directoryURL)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("account directory: %w", err)
	}
	keyPath := filepath.Join(dir, "account.key")
	acc := &account{Email: email, Directory: directoryURL}

	keyPEM, err := os.ReadFile(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
		if err != nil {
			return nil, fmt.Errorf("generate account key: %w", err)
		}
		if err := store.WriteFile(keyPath, certcrypto.PEMEncode(key), 0o600); err != nil {
			return nil, fmt.Errorf("write account key: %w", err)
		}
		acc.key = key
		return acc, nil
	case err != nil:
		return nil, fmt.Errorf("read account key: %w", err)
	}
	acc.key, err = certcrypto.ParsePEMPrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("account key %s: %w", keyPath, err)
	}

	data, err := os.ReadFile(filepath.Join(dir, "account.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return acc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	var stored account
	if err := json.Unmarshal(data, &stored); err != nil {
		// The registration can be recovered from the key; a broken file
		// is not worth failing a renewal over.
		return acc, nil
	}
	acc.Registration = stored.Registration
	return acc, nil
}

// replaceAccountKey puts a new key in place of the stored account of the
// directory and forgets its registration, for an account the CA no longer
// knows: a deactivated account's key cannot register again (RFC 8555
// section 7.3.6), so a new one is made. loadOrCreateAccount then finds a
// key without a registration and registers it.
func replaceAccountKey(accountsDir, directoryURL string) error {
	dir := accountDir(accountsDir, directoryURL)
	key, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
	if err != nil {
		return fmt.Errorf("generate account key: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, "account.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget the account: %w", err)
	}
	if err := store.WriteFile(filepath.Join(dir, "account.key"), certcrypto.PEMEncode(key), 0o600); err != nil {
		return fmt.Errorf("write account key: %w", err)
	}
	return nil
}

func saveAccount(accountsDir string, acc *account) error {
	data, err := json.MarshalIndent(acc, "", "  ")
	if err != nil {
		return err
	}
	return store.WriteFile(filepath.Join(accountDir(accountsDir, acc.Directory), "account.json"), append(data, '\n'), 0o600)
}

// register makes sure acc is registered with the CA: a stored registration is
// trusted as it is; otherwise the account is looked up by its key and, when
// the CA does not know it, registered (with EAB when configured).
func register(client *lego.Client, acc *account, eabKID, eabHMAC string) error {
	if acc.Registration != nil && acc.Registration.URI != "" {
		return nil
	}
	reg, err := client.Registration.ResolveAccountByKey()
	if err == nil {
		acc.Registration = reg
		return nil
	}
	// Register only when the CA says it does not know the key; under a
	// bad-nonce storm or a 503 a second request would only double the wait.
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || pd.Type != accountDoesNotExist {
		return fmt.Errorf("look up the account: %w", err)
	}
	if eabKID != "" {
		reg, err = client.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: eabKID, HmacEncoded: eabHMAC,
		})
	} else {
		reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return fmt.Errorf("register account: %w", err)
	}
	acc.Registration = reg
	return nil
}
