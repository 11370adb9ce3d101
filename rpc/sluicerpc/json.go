package sluicerpc

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// MacaroonHeader is the request header that carries the caller's macaroon,
// hex-encoded, as with lnd.
const MacaroonHeader = "macaroon"

// JSONMarshalOptions is how the API writes JSON, on the wire and in
// `sluice --json`: field names as in the .proto file, every field present
// even when it holds its zero value, and byte fields (pubkeys, hashes) as hex
// rather than base64, as lncli shows them. The hex option exists only in
// lnd's protobuf fork, which go.mod's replace line selects.
var JSONMarshalOptions = protojson.MarshalOptions{
	UseProtoNames:   true,
	EmitUnpopulated: true,
	UseHexForBytes:  true,
}

// JSONUnmarshalOptions is how the API reads JSON requests: byte fields as
// hex, to match JSONMarshalOptions, and unknown fields ignored so that a
// client built against a newer .proto still works with an older server.
var JSONUnmarshalOptions = protojson.UnmarshalOptions{
	DiscardUnknown: true,
	UseHexForBytes: true,
}

// JSONCodec is a connect-go codec (it meets connect.Codec) that reads and
// writes JSON with JSONUnmarshalOptions and JSONMarshalOptions. The server
// serves JSON with it; a Go client that speaks JSON rather than protobuf
// needs it too (connect.WithCodec(sluicerpc.JSONCodec{})), because connect's
// own JSON codec reads byte fields as base64.
type JSONCodec struct {
	// name is the content subtype; "json" when empty.
	name string
}

// JSONCodecs returns the codec under both names connect serves JSON as,
// "json" and "json; charset=utf-8"; a handler registers both.
func JSONCodecs() []JSONCodec {
	return []JSONCodec{{}, {name: "json; charset=utf-8"}}
}

// Name returns the codec's content subtype.
func (c JSONCodec) Name() string {
	if c.name == "" {
		return "json"
	}
	return c.name
}

// Marshal writes a protobuf message as JSON.
func (c JSONCodec) Marshal(msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("json codec: %T is not a protobuf message",
			msg)
	}
	return JSONMarshalOptions.Marshal(m)
}

// Unmarshal reads JSON into a protobuf message.
func (c JSONCodec) Unmarshal(data []byte, msg any) error {
	m, ok := msg.(proto.Message)
	if !ok {
		return fmt.Errorf("json codec: %T is not a protobuf message",
			msg)
	}
	if len(data) == 0 {
		return errors.New("json codec: empty body is not a JSON " +
			"object; send {} for a request without fields")
	}
	if err := JSONUnmarshalOptions.Unmarshal(data, m); err != nil {
		return fmt.Errorf("json codec: unmarshal into %T: %w", msg, err)
	}
	return nil
}
