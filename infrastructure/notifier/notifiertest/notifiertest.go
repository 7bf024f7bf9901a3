// Package notifiertest gives tests a real SMTP server.
package notifiertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// MailServer is a real SMTP server (go-smtp) on a local port, which keeps
// what it receives, and answers RCPT with the reply Refuse sets.
type MailServer struct {
	Addr   string
	Client *tls.Config

	mu       sync.Mutex
	received []Received
	refuse   *gosmtp.SMTPError
	authed   []string
}

// Received is one message as the server took it.
type Received struct {
	From, To string
	Data     []byte
}

// TLS is how the server secures its connections.
type TLS int

const (
	// OfferSTARTTLS: clear text until the client upgrades.
	OfferSTARTTLS TLS = iota
	// SpeakTLS: TLS from the first byte (smtps).
	SpeakTLS
	// NoTLS: clear text only.
	NoTLS
)

// StartMailServer starts a server on a port of 127.0.0.1 for the test; it
// takes the user shop with the password s3cret. Addr is where it listens,
// Client a TLS configuration that trusts its certificate.
func StartMailServer(t *testing.T, mode TLS) *MailServer {
	t.Helper()
	cert, pool := selfSigned(t)
	ms := &MailServer{Client: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &mailSession{server: ms}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case OfferSTARTTLS:
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	case SpeakTLS:
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
	case NoTLS:
	}
	ms.Addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

// Authenticated lists the users who logged in.
func (ms *MailServer) Authenticated() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string{}, ms.authed...)
}

// Messages lists what the server received, in order.
func (ms *MailServer) Messages() []Received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]Received{}, ms.received...)
}

type mailSession struct {
	server   *MailServer
	from, to string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "shop" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.server.mu.Lock()
		s.server.authed = append(s.server.authed, user)
		s.server.mu.Unlock()
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *gosmtp.MailOptions) error { s.from = from; return nil }

func (s *mailSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.server.mu.Lock()
	defer s.server.mu.Unlock()
	if s.server.refuse != nil {
		return s.server.refuse
	}
	s.to = to
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.server.mu.Lock()
	s.server.received = append(s.server.received, Received{s.from, s.to, b})
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test mail server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Refuse makes the server answer every RCPT with the reply code.
func (ms *MailServer) Refuse(code int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.refuse = &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 1, 1}, Message: "refused by the test"}
}
