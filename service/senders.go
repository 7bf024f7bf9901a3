package service

import (
	"errors"
	"log/slog"
	"slices"

	"shop/app/notifications"
	"shop/domain/notification"
	"shop/infrastructure/breaker"
	"shop/infrastructure/notifier"
)

// NotifyConfig holds the notification providers. A channel left without one
// is logged, and its notifications are recorded as logged, not sent.
type NotifyConfig struct {
	// SMTP delivers e-mail (SMTP_URL, NOTIFY_FROM).
	SMTP notifier.SMTPConfig
	// Twilio delivers SMS (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
	// TWILIO_FROM, TWILIO_BASE_URL).
	Twilio notifier.TwilioConfig
	// Webhook delivers push (PUSH_WEBHOOK_URL, WEBHOOK_SECRET).
	Webhook notifier.WebhookConfig
}

// provider is one configured sender of a channel.
type provider struct {
	name    string
	channel notification.Channel
	sender  notifications.Sender
}

// providers builds the senders configured, and reports every setting that
// cannot work, also those given without what they go with.
func (c NotifyConfig) providers() ([]provider, error) {
	var out []provider
	var errs []error
	switch {
	case c.SMTP.URL != "":
		s, err := notifier.NewSMTP(c.SMTP)
		errs = append(errs, err)
		out = append(out, provider{"smtp", notification.ChannelEmail, s})
	case c.SMTP.From != "":
		errs = append(errs, errors.New("NOTIFY_FROM is set without SMTP_URL"))
	}
	if c.Twilio.AccountSID != "" || c.Twilio.AuthToken != "" || c.Twilio.From != "" || c.Twilio.BaseURL != "" {
		s, err := notifier.NewTwilio(c.Twilio)
		errs = append(errs, err)
		out = append(out, provider{"twilio", notification.ChannelSMS, s})
	}
	switch {
	case c.Webhook.URL != "":
		s, err := notifier.NewWebhook(c.Webhook)
		errs = append(errs, err)
		out = append(out, provider{"webhook", notification.ChannelPush, s})
	case c.Webhook.Secret != "":
		errs = append(errs, errors.New("WEBHOOK_SECRET is set without PUSH_WEBHOOK_URL"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// newSenders sends each channel with its provider, behind a breaker of its
// own (notifier-smtp, notifier-twilio, notifier-webhook): an SMTP server that
// is down does not hold back the SMS. The rest goes to the log.
func newSenders(cfg Config, logger *slog.Logger, onChange func(name, from, to string)) (*notifier.Channels, []*breaker.Breaker, error) {
	providers, err := cfg.Notify.providers()
	if err != nil {
		return nil, nil, err
	}
	channels := notifier.NewChannels("log", notifier.NewLog(logger))
	var breakers []*breaker.Breaker
	for _, p := range providers {
		b := breaker.New("notifier-"+p.name, cfg.Breaker, onChange)
		breakers = append(breakers, b)
		channels.Use(p.channel, p.name, notifier.WithBreaker(p.sender, b))
	}
	return channels, breakers, nil
}

// notifies reports whether the process runs the notifications service.
func (c Config) notifies() bool { return slices.Contains(c.Services, Notifications) }
