module github.com/keyway-dev/keyway/examples/mysql

go 1.26.0

require github.com/keyway-dev/keyway/sdk v0.0.0

// The example builds against the SDK in this repository. A third party
// would require a released version of the SDK instead.
replace github.com/keyway-dev/keyway/sdk => ../../sdk
