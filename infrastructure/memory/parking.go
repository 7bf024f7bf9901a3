package memory

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"

	"shop/app/operations"
)

// Parking keeps held lanes and their parked messages in memory, for the
// routers of one process.
type Parking struct {
	mu     sync.Mutex
	blocks map[operations.Lane]operations.Block
	parked map[operations.Lane]map[string]operations.ParkedMessage
}

// NewParking returns a parking with nothing held.
func NewParking() *Parking {
	return &Parking{blocks: map[operations.Lane]operations.Block{}, parked: map[operations.Lane]map[string]operations.ParkedMessage{}}
}

func (p *Parking) Block(_ context.Context, b operations.Block) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if held, ok := p.blocks[b.Lane]; ok && held.Version > b.Version {
		return nil
	}
	p.blocks[b.Lane] = b
	return nil
}

func (p *Parking) Blocks(_ context.Context, handler string) ([]operations.Block, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []operations.Block
	for l, b := range p.blocks {
		if handler == "" || l.Handler == handler {
			out = append(out, b)
		}
	}
	return out, nil
}

func (p *Parking) Unblock(_ context.Context, b operations.Block) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocks[b.Lane].MessageID == b.MessageID {
		delete(p.blocks, b.Lane)
	}
	return nil
}

func (p *Parking) Park(_ context.Context, m operations.ParkedMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	lane := p.parked[m.Lane]
	if lane == nil {
		lane = map[string]operations.ParkedMessage{}
		p.parked[m.Lane] = lane
	}
	if _, ok := lane[m.MessageID]; !ok {
		m.Payload = slices.Clone(m.Payload)
		m.Metadata = maps.Clone(m.Metadata)
		lane[m.MessageID] = m
	}
	return nil
}

func (p *Parking) Parked(_ context.Context, l operations.Lane) ([]operations.ParkedMessage, error) {
	p.mu.Lock()
	out := slices.Collect(maps.Values(p.parked[l]))
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b operations.ParkedMessage) int {
		return cmp.Or(cmp.Compare(a.AggregateVersion, b.AggregateVersion), a.ParkedAt.Compare(b.ParkedAt), cmp.Compare(a.MessageID, b.MessageID))
	})
	return out, nil
}

func (p *Parking) Unpark(_ context.Context, l operations.Lane, messageID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.parked[l], messageID)
	if len(p.parked[l]) == 0 {
		delete(p.parked, l)
	}
	return nil
}

func (p *Parking) Redact(_ context.Context, l operations.Lane, messageID string, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m, ok := p.parked[l][messageID]; ok {
		m.Payload = slices.Clone(payload)
		p.parked[l][messageID] = m
	}
	return nil
}

func (p *Parking) Count(context.Context) (map[operations.Lane]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[operations.Lane]int, len(p.parked))
	for l, msgs := range p.parked {
		out[l] = len(msgs)
	}
	return out, nil
}
