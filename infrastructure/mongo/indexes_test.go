package mongo

import (
	"context"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/infrastructure/breaker"
	"shop/infrastructure/mongo/mongotest"
)

// Replicas started together against a fresh database all create the same
// indexes at once; every one of them starts.
func TestReplicasStartingTogetherAllGetTheirIndexes(t *testing.T) {
	t.Parallel()
	client, err := Connect(mongotest.URL(t), mongotest.Prefix(t), breaker.New("mongodb", breaker.DefaultConfig(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	coll := client.Database("race").Collection("events")
	// Each replica its own, as in processes of their own: the driver
	// writes to the options it is given.
	models := func() []mongo.IndexModel {
		return []mongo.IndexModel{
			{Keys: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}, Options: options.Index().SetName("ab").SetUnique(true)},
			{Keys: bson.D{{Key: "c", Value: 1}}, Options: options.Index().SetName("c")},
		}
	}
	const replicas = 4
	errs := make([]error, replicas)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range replicas {
		wg.Go(func() {
			start.Wait()
			_, errs[i] = client.ensureIndexes(context.Background(), coll, models())
		})
	}
	start.Done()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	_, missing, err := client.missingIndexes(context.Background(), coll, models())
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing %d indexes: %v", len(missing), err)
	}
}
