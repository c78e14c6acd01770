using System.Diagnostics;
using System.Net.Sockets;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Tests.Integration.Core.StateStores;

/// <summary>
/// Azurite, Microsoft's Azure Storage emulator (npm azurite 3.37.0 in tests/Fixtures/azurite, installed by .ci/run and
/// build.ps1 Test), started on a free loopback port with a throwaway folder. The module talks to it through
/// Azure.Storage.Blobs exactly as to Azure.
/// </summary>
public sealed class AzuriteServer : IDisposable
{
    /// <summary>Azurite's published development account key (not a secret).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsu" + "Fq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    public const string Account = "devstoreaccount1";

    private static readonly string Package = Path.Combine(TestPaths.RepositoryRoot, "tests", "Fixtures", "azurite");
    private static string Launcher => Path.Combine(Package, "node_modules", ".bin", "azurite-blob");
    private readonly Process process;
    private readonly string folder;

    public static string? Missing => File.Exists(Launcher) ? null : $"Azurite is not installed: run 'npm ci' in {Package} (.ci/run and build.ps1 Test do)";

    public AzuriteServer()
    {
        folder = Path.Combine(Path.GetTempPath(), "dr-azurite-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(folder);
        Port = LocalHttpServer.FreePort();
        process = Process.Start(new ProcessStartInfo(Launcher)
        {
            ArgumentList = { "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--location", folder, "--silent", "--skipApiVersionCheck", "--loose" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Listening())
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                Dispose();
                throw new InvalidOperationException("Azurite did not start listening within 30 s.");
            }

            Thread.Sleep(100);
        }
    }

    public int Port { get; }

    /// <summary>An Azure Storage connection string with this module's Container= key.</summary>
    public string ConnectionString(string container) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={AccountKey};BlobEndpoint=http://127.0.0.1:{Port}/{Account};Container={container}";

    public string ContainerUrl(string container) => $"http://127.0.0.1:{Port}/{Account}/{container}";

    /// <summary>Stops the emulator (an unreachable store); Dispose starts nothing again.</summary>
    public void Kill()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    private bool Listening()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        Kill();
        process.Dispose();
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
