package mongo_test

import (
	"testing"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/infrastructure/mongo"
)

func TestSnapshots(t *testing.T) {
	t.Parallel()
	eventstoretest.Snapshots(t, func(t *testing.T) eventstore.Snapshots { return mongo.NewSnapshots(connect(t), "inventory") })
}
