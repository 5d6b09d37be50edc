package sdk

// Attribute types a Schema may use.
const (
	TypeString     = "string"
	TypeNumber     = "number"
	TypeBool       = "bool"
	TypeStringList = "list(string)"
	TypeStringMap  = "map(string)"
)

// Schema describes the HCL body a plugin accepts. The host decodes the
// plugin's block against it, reports errors with their positions, and
// hands the result to Configure as JSON.
type Schema struct {
	Attributes []Attribute
	Blocks     []Block
}

// Attribute is one name = value in a body.
type Attribute struct {
	Name string
	// Type is one of the Type constants.
	Type        string
	Required    bool
	Description string
}

// Block is a nested block without labels.
type Block struct {
	Name string
	Body Schema
	// Repeated blocks may appear several times and decode to a JSON array.
	Repeated    bool
	Description string
}
