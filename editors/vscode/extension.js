// Starts `amct lsp` for AMCT config files; everything else is the server's.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("amct").get("server.command");
  client = new LanguageClient(
    "amct",
    "AMCT config",
    { command, args, options: {} },
    {
      documentSelector: [{ language: "amct-cfg" }],
      synchronize: {
        // settings and inventories change what is reported: tell the server
        fileEvents: vscode.workspace.createFileSystemWatcher("**/{pyproject.toml,amct.toml,*.json}"),
      },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
