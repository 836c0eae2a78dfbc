# What `import nixpkgs { system; config; }` gives, for tests/system/test_nix_files.py.
{
  system,
  config ? { },
}:
(import ../stubs.nix).mkPkgs system (config.cudaSupport or false)
