package notifier

import (
	"context"

	"shop/app/notifications"
	"shop/domain/notification"
)

// Channels sends each message with the sender of its channel; a channel
// without one goes to the fallback (the log), whose receipt says so.
type Channels struct {
	fallback     notifications.Sender
	fallbackName string
	senders      map[notification.Channel]namedSender
}

type namedSender struct {
	name   string
	sender notifications.Sender
}

// NewChannels sends every channel with fallback, named fallbackName, until
// Use gives a channel a sender of its own.
func NewChannels(fallbackName string, fallback notifications.Sender) *Channels {
	return &Channels{fallback: fallback, fallbackName: fallbackName, senders: map[notification.Channel]namedSender{}}
}

// Use sends channel's messages with s, named name (smtp, twilio, webhook).
func (c *Channels) Use(channel notification.Channel, name string, s notifications.Sender) {
	c.senders[channel] = namedSender{name: name, sender: s}
}

// Send implements notifications.Sender.
func (c *Channels) Send(ctx context.Context, m notifications.Message) (notifications.Receipt, error) {
	if s, ok := c.senders[m.Channel]; ok {
		return s.sender.Send(ctx, m)
	}
	return c.fallback.Send(ctx, m)
}

// Describe names what delivers each channel, for /health.
func (c *Channels) Describe() map[string]string {
	out := map[string]string{}
	for _, ch := range []notification.Channel{notification.ChannelEmail, notification.ChannelSMS, notification.ChannelPush, notification.ChannelLog} {
		out[ch.String()] = c.fallbackName
		if s, ok := c.senders[ch]; ok {
			out[ch.String()] = s.name
		}
	}
	return out
}
