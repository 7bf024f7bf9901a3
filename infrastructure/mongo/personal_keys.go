package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/personal"
)

type personalKeyDoc struct {
	Subject   string    `bson:"_id"`
	KeyID     string    `bson:"keyId"`
	Material  []byte    `bson:"key"`
	CreatedAt time.Time `bson:"createdAt"`
}

// PersonalKeys is the key store of personal data: the "personal_keys"
// collection of the operations database, one document per data subject,
// apart from every service's events so that deleting a key leaves them whole.
// (A deleted document's bytes stay in the database's files, and in backups,
// until those are rewritten or expire: what erasure promises lasts as long.)
type PersonalKeys struct {
	client *Client
	coll   *mongo.Collection
}

// NewPersonalKeys opens the key store. Its one index is the _id.
func NewPersonalKeys(client *Client) *PersonalKeys {
	return &PersonalKeys{client: client, coll: client.Database(OperationsDatabase).Collection("personal_keys")}
}

func (k *PersonalKeys) Key(ctx context.Context, subject string) (personal.Key, error) {
	var doc personalKeyDoc
	err := k.client.do(ctx, func(ctx context.Context) error {
		return k.coll.FindOne(ctx, bson.D{{Key: "_id", Value: subject}}).Decode(&doc)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return personal.Key{}, personal.ErrNoKey
	}
	if err != nil {
		return personal.Key{}, err
	}
	return personal.Key{ID: doc.KeyID, Material: doc.Material}, nil
}

// KeyOrAdd takes one round trip: an upsert that inserts the candidate only
// when the subject has no key, and returns the document either way.
func (k *PersonalKeys) KeyOrAdd(ctx context.Context, subject string, candidate personal.Key) (personal.Key, error) {
	var doc personalKeyDoc
	upsert := func(ctx context.Context) error {
		return k.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: subject}},
			bson.D{{Key: "$setOnInsert", Value: bson.D{
				{Key: "keyId", Value: candidate.ID}, {Key: "key", Value: candidate.Material},
				{Key: "createdAt", Value: time.Now().UTC().Truncate(time.Millisecond)},
			}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	}
	err := k.client.do(ctx, upsert)
	if mongo.IsDuplicateKeyError(err) {
		// Two upserts of a new subject raced, and the other inserted first:
		// this one finds its key now.
		err = k.client.do(ctx, upsert)
	}
	if err != nil {
		return personal.Key{}, err
	}
	return personal.Key{ID: doc.KeyID, Material: doc.Material}, nil
}

func (k *PersonalKeys) Delete(ctx context.Context, subject string) (bool, error) {
	var deleted int64
	err := k.client.do(ctx, func(ctx context.Context) error {
		res, err := k.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: subject}})
		if err == nil {
			deleted = res.DeletedCount
		}
		return err
	})
	return deleted > 0, err
}
