package mongo_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"shop/app/inventory"
	"shop/app/orders"
	"shop/app/readmodel/readmodeltest"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/mongo"
)

func TestOrderViews(t *testing.T) {
	t.Parallel()
	readmodeltest.OrderViews(t, func(t *testing.T) orders.OrderViews {
		v, err := mongo.NewOrderViews(context.Background(), connect(t))
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

func TestProductViews(t *testing.T) {
	t.Parallel()
	readmodeltest.ProductViews(t, func(t *testing.T) inventory.ProductViews {
		v, err := mongo.NewProductViews(context.Background(), connect(t))
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

// What versions before correspondences projected of every notification is
// still answered for the orders they notified.
func TestArchivedNotificationsAreReadAsTheyWereStored(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	coll := client.Database("notifications").Collection("notifications")
	for _, doc := range []bson.D{
		{{Key: "_id", Value: "o-1:order_created:sms"}, {Key: "orderId", Value: "o-1"}, {Key: "kind", Value: "order_created"}, {Key: "channel", Value: "sms"},
			{Key: "recipient", Value: "+4915112345678"}, {Key: "status", Value: "pending"}, {Key: "attempts", Value: 1}, {Key: "lastError", Value: "gateway down"},
			{Key: "updatedAt", Value: at}, {Key: "version", Value: 1}},
		{{Key: "_id", Value: "o-1:order_created:email"}, {Key: "orderId", Value: "o-1"}, {Key: "kind", Value: "order_created"}, {Key: "channel", Value: "email"},
			{Key: "recipient", Value: "a@b.c"}, {Key: "status", Value: "sent"}, {Key: "attempts", Value: 1}, {Key: "lastError", Value: ""},
			{Key: "updatedAt", Value: at}, {Key: "version", Value: 1}},
		{{Key: "_id", Value: "o-2:order_created:log"}, {Key: "orderId", Value: "o-2"}, {Key: "kind", Value: "order_created"}, {Key: "channel", Value: "log"},
			{Key: "status", Value: "sent"}, {Key: "attempts", Value: 1}, {Key: "updatedAt", Value: at}, {Key: "version", Value: 1}},
	} {
		if _, err := coll.InsertOne(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	got, err := mongo.NewNotificationArchive(client).ByOrder(ctx, "o-1")
	if err != nil || len(got) != 2 {
		t.Fatalf("archived %+v %v", got, err)
	}
	if got[0].ID != "o-1:order_created:email" || got[0].Status != notification.StatusSent || got[1].Channel != notification.ChannelSMS ||
		got[1].LastError != "gateway down" || got[1].Attempts != 1 || !got[1].UpdatedAt.Equal(at) {
		t.Fatalf("archived %+v", got)
	}
	if none, err := mongo.NewNotificationArchive(client).ByOrder(ctx, "o-3"); err != nil || len(none) != 0 {
		t.Fatalf("an order not archived: %+v %v", none, err)
	}
}

func TestReadModelsCreateTheirIndexesOnce(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	for range 2 {
		if _, err := mongo.NewOrderViews(ctx, client); err != nil {
			t.Fatal(err)
		}
	}
	for db, want := range map[string][]string{
		"orders": {"_id_", "customer_status_newest", "customer_newest", "newest"},
	} {
		// Each collection is named after its database.
		specs, err := client.Database(db).Collection(db).Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, s := range specs {
			got[s.Name] = true
		}
		for _, name := range want {
			if !got[name] {
				t.Errorf("%s: index %s missing, have %v", db, name, got)
			}
		}
	}
}

func TestOrderViewsAreStoredAsQueryableDocuments(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	views, err := mongo.NewOrderViews(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	err = views.Create(ctx, orders.OrderView{
		ID: "o-1", CustomerID: "c-7", Status: order.StatusPending, Total: 250, CreatedAt: at, UpdatedAt: at, Version: 1,
		Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 1, UnitPrice: 250}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Status    string    `bson:"status"`
		Total     int64     `bson:"total"`
		CreatedAt time.Time `bson:"createdAt"`
		Items     []struct {
			UnitPrice int64 `bson:"unitPrice"`
		} `bson:"items"`
	}
	filter := bson.D{{Key: "customerId", Value: "c-7"}, {Key: "status", Value: "PENDING"}}
	if err := client.Database("orders").Collection("orders").FindOne(ctx, filter).Decode(&doc); err != nil {
		t.Fatalf("query by customer and status: %v", err)
	}
	if doc.Total != 250 || len(doc.Items) != 1 || doc.Items[0].UnitPrice != 250 || !doc.CreatedAt.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("document %+v", doc)
	}
	got, err := views.Get(ctx, "o-1")
	if err != nil || !got.CreatedAt.Equal(at.Truncate(time.Millisecond)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("view %+v %v", got, err)
	}
}
