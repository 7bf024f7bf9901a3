package notifier

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"shop/app/fault"
	"shop/app/notifications"
)

// SMTPConfig is how the e-mail sender reaches its server.
type SMTPConfig struct {
	// URL is SMTP_URL: smtp://user:pass@host:587 upgrades the connection
	// with STARTTLS (required: a server that does not offer it is not sent
	// credentials or mail), smtps://user:pass@host:465 speaks TLS from the
	// start, and smtp://host:1025?tls=none sends in clear, for a relay on
	// the same host or a local test server only.
	URL string
	// From is NOTIFY_FROM, the sender's address ("Shop <shop@example.com>").
	From string
	// TLS, when set, replaces the system's roots and the server name taken
	// from URL (tests, private CAs).
	TLS *tls.Config
	// Timeout bounds one delivery, connection included. Default 30 s.
	Timeout time.Duration
}

type smtpSecurity int

const (
	startTLS smtpSecurity = iota
	implicitTLS
	clearText
)

// smtpTarget is what SMTP_URL says.
type smtpTarget struct {
	addr, host string
	security   smtpSecurity
	auth       *url.Userinfo
}

func parseSMTPURL(s string) (smtpTarget, error) {
	u, err := url.Parse(s)
	if err != nil {
		return smtpTarget{}, fmt.Errorf("SMTP_URL: %w", err)
	}
	t := smtpTarget{host: u.Hostname(), auth: u.User}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		t.security = startTLS
		port = cmp.Or(port, "587")
	case "smtps":
		t.security = implicitTLS
		port = cmp.Or(port, "465")
	default:
		return smtpTarget{}, fmt.Errorf("SMTP_URL: scheme %q: want smtp (STARTTLS) or smtps (TLS)", u.Scheme)
	}
	switch tls := u.Query().Get("tls"); tls {
	case "":
	case "none":
		if t.security == implicitTLS {
			return smtpTarget{}, errors.New("SMTP_URL: smtps with tls=none: pick one")
		}
		t.security = clearText
	default:
		return smtpTarget{}, fmt.Errorf("SMTP_URL: tls=%q: the only value is none", tls)
	}
	if t.host == "" {
		return smtpTarget{}, errors.New("SMTP_URL: no host")
	}
	if t.security == clearText && t.auth != nil {
		return smtpTarget{}, errors.New("SMTP_URL: credentials are not sent without TLS (tls=none)")
	}
	t.addr = net.JoinHostPort(t.host, port)
	return t, nil
}

// SMTP delivers e-mail through an SMTP server, with net/smtp: one
// connection per message, a MIME message with a text and an HTML part, and
// a Message-ID made from the notification's id, so that a message sent again
// after a crash between sending and recording is the same message to the
// mail systems that drop repeats.
type SMTP struct {
	cfg    SMTPConfig
	target smtpTarget
	from   *mail.Address
}

// NewSMTP checks cfg and builds the sender; nothing is dialled until Send.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	t, err := parseSMTPURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_FROM %q: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg, target: t, from: from}, nil
}

// Send implements notifications.Sender. A reply 4xx from the server, and a
// server that cannot be reached, are fault.Unavailable (tried again later); a
// reply 5xx is fault.Malformed: the server refuses the message for good.
func (s *SMTP) Send(ctx context.Context, m notifications.Message) (notifications.Receipt, error) {
	to, err := mail.ParseAddress(m.Recipient)
	if err != nil {
		return notifications.Receipt{}, fault.Malformed(fmt.Errorf("e-mail recipient: %w", err))
	}
	msg, err := s.compose(to, m)
	if err != nil {
		return notifications.Receipt{}, err
	}
	return notifications.Receipt{}, classifySMTP(s.deliver(ctx, to.Address, msg))
}

func (s *SMTP) deliver(ctx context.Context, to string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	tlsConfig := s.tlsConfig()
	dialer := &net.Dialer{}
	var conn net.Conn
	var err error
	if s.target.security == implicitTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", s.target.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.target.addr)
	}
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// The connection is closed when the context ends, so that a server
	// that stops answering does not hold the delivery past it.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.target.host)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer c.Close()
	if s.target.security == startTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp server %s does not offer STARTTLS, which SMTP_URL requires", s.target.addr)
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return err
		}
	}
	if u := s.target.auth; u != nil {
		pass, _ := u.Password()
		if err := c.Auth(smtp.PlainAuth("", u.Username(), pass, s.target.host)); err != nil {
			return err
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.cfg.TLS != nil {
		return s.cfg.TLS.Clone()
	}
	return &tls.Config{ServerName: s.target.host, MinVersion: tls.VersionTLS12}
}

// classifySMTP tells a reply 4xx (try again later) from a reply 5xx (refused
// for good); what is not a reply (the network, TLS) is transient.
func classifySMTP(err error) error {
	if err == nil {
		return nil
	}
	var reply *textproto.Error
	if errors.As(err, &reply) && reply.Code >= 500 {
		return fault.Malformed(fmt.Errorf("smtp: %w", err))
	}
	return fault.Unavailable("smtp", err)
}

// compose writes the MIME message: headers, then a text and an HTML part of
// the same words.
func (s *SMTP) compose(to *mail.Address, m notifications.Message) ([]byte, error) {
	var buf bytes.Buffer
	body := multipart.NewWriter(&buf)
	headers := []struct{ k, v string }{
		{"From", s.from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", time.Now().UTC().Format(time.RFC1123Z)},
		{"Message-ID", messageID(m.IdempotencyKey, s.from.Address)},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": body.Boundary()})},
	}
	var head bytes.Buffer
	for _, h := range headers {
		fmt.Fprintf(&head, "%s: %s\r\n", h.k, h.v)
	}
	head.WriteString("\r\n")
	paragraphs := strings.Split(m.Body, "\n")
	htmlBody := "<!DOCTYPE html><html><body>"
	for _, p := range paragraphs {
		htmlBody += "<p>" + html.EscapeString(p) + "</p>"
	}
	htmlBody += "</body></html>"
	for _, part := range []struct{ contentType, text string }{
		{"text/plain; charset=utf-8", m.Body},
		{"text/html; charset=utf-8", htmlBody},
	} {
		w, err := body.CreatePart(textproto.MIMEHeader{"Content-Type": {part.contentType}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.text, "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := body.Close(); err != nil {
		return nil, err
	}
	return append(head.Bytes(), buf.Bytes()...), nil
}

// messageID makes the Message-ID of a notification: the same for every
// attempt, in the sender's domain.
func messageID(notificationID, from string) string {
	domain := "shop.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		domain = from[at+1:]
	}
	local := strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			return r
		}
		return '.'
	}, notificationID)
	return "<" + local + "@" + domain + ">"
}
