package record

import "encoding/hex"

// ServiceKeys names the records stored for one service, from their keys
// alone: the addresses of its instance records and the blinded-key hex of its
// publish records.
type ServiceKeys struct {
	Instances []string
	Published []string
}

// BlindedKeyHex is the name of the publish record of a descriptor published
// under blindedKey: the last segment of its key
// (<prefix>/services/<svc>/published/<hex>). HSDirs keep one revision counter
// per blinded key, so one record per blinded key carries exactly the counter
// that must keep growing.
func BlindedKeyHex(blindedKey []byte) string { return hex.EncodeToString(blindedKey) }
