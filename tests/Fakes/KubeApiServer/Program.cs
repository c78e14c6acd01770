using System.Globalization;
using System.Runtime.InteropServices;
using DeploymentRollback.Fakes.Kube;

// Standalone: dotnet run --project tests/Fakes/KubeApiServer -- --listen 127.0.0.1:0 --kubeconfig /tmp/kubeconfig
var options = new FakeKubeOptions();
string? kubeconfig = null;
var kubeNamespace = "default";
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--listen":
        {
            var listen = Next();
            var colon = listen.LastIndexOf(':');
            options.Host = colon > 0 ? listen[..colon] : "127.0.0.1";
            options.Port = int.Parse(colon >= 0 ? listen[(colon + 1)..] : listen, CultureInfo.InvariantCulture);
            break;
        }

        case "--kubeconfig":
            kubeconfig = Next();
            break;
        case "--namespace":
            kubeNamespace = Next();
            break;
        case "--token":
            options.Token = Next();
            break;
        case "--tls":
            options.Tls = true;
            break;
        case "--readonly-token":
            options.ReadOnlyToken = Next();
            break;
        case "--ready-delay-ms":
            options.ReadyDelay = TimeSpan.FromMilliseconds(int.Parse(Next(), CultureInfo.InvariantCulture));
            break;
        case "--crash-interval-ms":
            options.CrashLoopInterval = TimeSpan.FromMilliseconds(int.Parse(Next(), CultureInfo.InvariantCulture));
            break;
        case "--nodes":
            options.Nodes = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            break;
        case "-h":
        case "--help":
            Console.WriteLine("""
                Fake Kubernetes API server for tests.
                  --listen HOST:PORT        address (port 0 picks a free one); default 127.0.0.1:0
                  --kubeconfig FILE         write a kubeconfig (cluster/context "fake") for this server
                  --namespace NS            the kubeconfig context's namespace (default "default")
                  --token T                 require bearer tokens; T has full access (default: no authentication)
                  --readonly-token T        with --token: a token that may only read (default fake-readonly-token)
                  --tls                     serve HTTPS with a self-signed certificate (kubectl sends tokens only over TLS)
                  --ready-delay-ms N        pod readiness delay (default 200)
                  --crash-interval-ms N     time between crashes of crash-looping containers (default 1000)
                  --nodes a,b               fake node names (default fake-node-1)
                Prints "Listening on http://HOST:PORT" once serving; stops on SIGTERM or Ctrl+C.
                """);
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument {args[i]} (see --help)");
            return 2;
    }
}

await using var server = await FakeKubeApiServer.StartAsync(options);
if (kubeconfig is not null)
{
    server.WriteKubeconfig(kubeconfig, kubeNamespace);
}

var stopped = new TaskCompletionSource();
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    stopped.TrySetResult();
});
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
{
    c.Cancel = true;
    stopped.TrySetResult();
});
Console.WriteLine("Listening on " + server.Url);
Console.Out.Flush();
await stopped.Task;
return 0;
