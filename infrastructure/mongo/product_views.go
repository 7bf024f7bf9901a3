package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/inventory"
)

type productDoc struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	Available int       `bson:"available"`
	Reserved  int       `bson:"reserved"`
	UpdatedAt time.Time `bson:"updatedAt"`
	Version   int       `bson:"version"`
}

func (d productDoc) view() inventory.ProductView {
	return inventory.ProductView{ProductID: d.ID, Name: d.Name, Available: d.Available, Reserved: d.Reserved, UpdatedAt: d.UpdatedAt.UTC(), Version: d.Version}
}

// ProductViews is the products read model in the "products" collection of
// the inventory service's database.
type ProductViews struct {
	client *Client
	coll   *activeCollection
}

// NewProductViews opens the read model. It needs no index but _id: products
// are read by id and listed in id order.
func NewProductViews(_ context.Context, client *Client) (*ProductViews, error) {
	return &ProductViews{client: client, coll: newActiveCollection(client, "inventory", "products")}, nil
}

// Create inserts the view of a new product; a repeat of the event finds it
// there and leaves it as it is.
func (v *ProductViews) Create(ctx context.Context, p inventory.ProductView) error {
	doc := productDoc{ID: p.ProductID, Name: p.Name, Available: p.Available, Reserved: p.Reserved, UpdatedAt: bsonTime(p.UpdatedAt), Version: p.Version}
	if err := insertFirst(ctx, v.client, v.coll, p.ProductID, p.Version, doc); err != nil {
		return fmt.Errorf("create product view %s: %w", p.ProductID, err)
	}
	return nil
}

// Update moves the counts with $inc in the same guarded write that bumps the
// version, so that a delta is added exactly once however often it arrives.
func (v *ProductViews) Update(ctx context.Context, productID string, version int, c inventory.StockChange) error {
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "available", Value: c.AvailableDelta}, {Key: "reserved", Value: c.ReservedDelta}}},
		{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: bsonTime(c.UpdatedAt)}, {Key: "version", Value: version}}},
	}
	return guardedUpdate(ctx, v.client, v.coll, "product", productID, version, update)
}

// Get returns inventory.ErrProductNotFound for a product the read model has
// not seen yet.
func (v *ProductViews) Get(ctx context.Context, productID string) (inventory.ProductView, error) {
	var doc productDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		err = v.client.do(ctx, func(ctx context.Context) error {
			return coll.FindOne(ctx, bson.D{{Key: "_id", Value: productID}}).Decode(&doc)
		})
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return inventory.ProductView{}, inventory.ErrProductNotFound
	}
	if err != nil {
		return inventory.ProductView{}, fmt.Errorf("get product view %s: %w", productID, err)
	}
	return doc.view(), nil
}

// List pages by product id, the one order that new products cannot disturb.
func (v *ProductViews) List(ctx context.Context, f inventory.ProductFilter) (inventory.ProductPage, error) {
	filter := bson.D{}
	if f.After != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: f.After}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if f.Limit > 0 {
		// One more than the page tells whether another page follows.
		opts.SetLimit(int64(f.Limit) + 1)
	}
	var docs []productDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		docs, err = findAll[productDoc](ctx, v.client, coll, filter, opts)
	}
	if err != nil {
		return inventory.ProductPage{}, fmt.Errorf("list product views: %w", err)
	}
	var page inventory.ProductPage
	if f.Limit > 0 && len(docs) > f.Limit {
		docs = docs[:f.Limit]
		page.Next = docs[len(docs)-1].ID
	}
	page.Products = make([]inventory.ProductView, len(docs))
	for i, d := range docs {
		page.Products[i] = d.view()
	}
	return page, nil
}

// Notifications recorded by versions before correspondences.
