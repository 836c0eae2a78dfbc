# Cheap checks for `nix flake check`: the CPU package builds (its dependencies come from the
# binary cache; the package itself only installs and import-checks), and the NixOS module
# evaluates, passes its assertions and writes the unit it promises. The module check runs the
# unit against a stand-in package, so it builds nothing heavy.
{
  lib,
  nixpkgs,
  system,
  pkgs,
  whisper-api,
  module,
}:

let
  standIn = pkgs.writeShellScriptBin "whisper-api" "exit 0";

  evaluated = nixpkgs.lib.nixosSystem {
    modules = [
      module
      {
        nixpkgs.hostPlatform = system;
        boot.isContainer = true;
        system.stateVersion = lib.trivial.release;
        services.whisper-api = {
          enable = true;
          package = standIn;
          useGpu = true;
          apiKeysFile = "/run/secrets/whisper-api-keys";
          trustedProxies = [ ];
        };
      }
    ];
  };

  # Only this module's: the rest of a bare container configuration is not under test.
  failedAssertions = map (a: a.message) (
    lib.filter (
      a: !a.assertion && lib.hasPrefix "services.whisper-api" a.message
    ) evaluated.config.assertions
  );

  unitFile = pkgs.writeText "whisper-api.service" evaluated.config.systemd.units."whisper-api.service".text;
in
{
  package = whisper-api;

  module =
    if failedAssertions != [ ] then
      throw "services.whisper-api: ${lib.concatStringsSep "; " failedAssertions}"
    else
      pkgs.runCommand "whisper-api-module-check" { } ''
        for line in \
          'Type=notify' 'NotifyAccess=main' 'KillMode=mixed' 'DynamicUser=true' \
          'StateDirectory=whisper-api' 'PrivateDevices=false' 'DeviceAllow=char-nvidia-uvm' \
          'LoadCredential=api-keys:/run/secrets/whisper-api-keys' \
          'TRUSTED_PROXIES=none' 'API_KEYS_FILE=/run/credentials/whisper-api.service/api-keys'
        do
          grep -qF "$line" ${unitFile} || { echo "missing from the unit: $line"; cat ${unitFile}; exit 1; }
        done
        touch $out
      '';
}
