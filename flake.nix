{
  description = "whisper-api: a self-hosted speech-to-text server built on OpenAI's Whisper models";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      # CUDA torch is unfree, and it has to be the torch of the whole Python set (openai-whisper
      # depends on torch too: two torches fail the build's pythonCatchConflicts check), hence a nixpkgs
      # of its own with cudaSupport rather than an override of one package.
      pkgsCuda =
        system:
        import nixpkgs {
          inherit system;
          config = {
            allowUnfree = true;
            cudaSupport = true;
          };
        };
    in
    {
      packages = forAllSystems (
        system: pkgs: rec {
          whisper-api = pkgs.callPackage ./nix/package.nix { };
          whisper-api-cuda = (pkgsCuda system).callPackage ./nix/package.nix { };
          default = whisper-api;
        }
      );

      # `nix run` serves on http://127.0.0.1:3001 with the settings in the environment / .env.
      apps = forAllSystems (
        system: _: {
          default = {
            type = "app";
            program = lib.getExe self.packages.${system}.whisper-api;
            meta.description = "Serve whisper-api (CPU)";
          };
          cuda = {
            type = "app";
            program = lib.getExe self.packages.${system}.whisper-api-cuda;
            meta.description = "Serve whisper-api (CUDA)";
          };
        }
      );

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.callPackage ./nix/shell.nix { inherit (self.packages.${system}) whisper-api; };
        }
      );

      overlays.default = final: _prev: { whisper-api = final.callPackage ./nix/package.nix { }; };

      nixosModules = {
        whisper-api = import ./nix/module.nix;
        default = self.nixosModules.whisper-api;
      };

      checks = forAllSystems (
        system: pkgs:
        import ./nix/checks.nix {
          inherit lib nixpkgs system pkgs;
          inherit (self.packages.${system}) whisper-api;
          module = self.nixosModules.default;
        }
      );
    };
}
