package service

import (
	"context"

	"shop/app/eventstore"
	"shop/app/inventory"
	"shop/app/notifications"
	"shop/app/operations"
	"shop/app/orders"
	"shop/cqrs"
	"shop/infrastructure/memory"
	"shop/infrastructure/mongo"
	"shop/infrastructure/redis"
)

// The adapters each service gets: MongoDB when MONGODB_URL is set, Redis when
// REDIS_URL is, memory otherwise.

// eventStore is a service's event store, measured.
func (p *Platform) eventStore(ctx context.Context, service string) (eventstore.Store, error) {
	if p.Mongo == nil {
		return p.Metrics.Store(service, memory.NewEventStore(p.Registry), businessCounter), nil
	}
	s, err := mongo.NewEventStore(ctx, p.Mongo, service, p.Registry)
	if err != nil {
		return nil, err
	}
	return p.Metrics.Store(service, s, businessCounter), nil
}

func (p *Platform) processedMessages(cfg Config) cqrs.ProcessedMessages {
	if p.Redis == nil {
		return memory.NewProcessedMessages(cfg.DedupTTL, cfg.DedupMemoryMax)
	}
	return redis.NewProcessedMessages(p.Redis, cfg.DedupTTL)
}

func (p *Platform) idempotencyKeys(cfg Config) orders.IdempotencyKeys {
	if p.Redis == nil {
		return memory.NewIdempotencyKeys(cfg.IdempotencyTTL)
	}
	return redis.NewIdempotencyKeys(p.Redis, cfg.IdempotencyTTL)
}

func (p *Platform) orderViews(ctx context.Context) (orders.OrderViews, error) {
	if p.Mongo == nil {
		return memory.NewOrderViews(), nil
	}
	return mongo.NewOrderViews(ctx, p.Mongo)
}

func (p *Platform) productViews(ctx context.Context) (inventory.ProductViews, error) {
	if p.Mongo == nil {
		return memory.NewProductViews(), nil
	}
	return mongo.NewProductViews(ctx, p.Mongo)
}

// notificationArchive is what versions before correspondences recorded of
// the notifications, on MongoDB; in memory nothing outlives a process.
func (p *Platform) notificationArchive() notifications.Archive {
	if p.Mongo == nil {
		return nil
	}
	return mongo.NewNotificationArchive(p.Mongo)
}

// archiveEraser empties addresses in the notifications' archive, on MongoDB.
func (p *Platform) archiveEraser() operations.ArchiveEraser {
	if p.Mongo == nil {
		return nil
	}
	return mongo.NewNotificationArchive(p.Mongo)
}

// snapshotStore keeps the snapshots of a service's streams: in its MongoDB
// database, or in memory.
func (p *Platform) snapshotStore(service string) eventstore.Snapshots {
	if p.Mongo == nil {
		return memory.NewSnapshots()
	}
	return mongo.NewSnapshots(p.Mongo, service)
}
