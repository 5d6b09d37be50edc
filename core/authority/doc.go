// Package authority turns the CA plugin's signing into what operators and
// users need: database server certificates ready for a database's TLS,
// identity files, exported CA bundles and pins. Private keys are generated
// here, on the machine that will use them; only a CSR goes to the CA.
package authority
