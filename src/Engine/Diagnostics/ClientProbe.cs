using Docker.DotNet;
using k8s;

namespace DeploymentRollback.Engine;

/// <summary>
/// Builds the Kubernetes and Docker clients without contacting a server, so hosts and tests can prove that
/// those SDKs (and YamlDotNet behind KubernetesClient) load from the module's own folder.
/// </summary>
public static class ClientProbe
{
    public static IReadOnlyList<string> ConstructClients(string kubeConfigPath, Uri dockerEndpoint)
    {
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeConfigPath);
        using var kubernetes = new k8s.Kubernetes(config);
        using var docker = new DockerClientBuilder().WithEndpoint(dockerEndpoint).Build();
        return new[]
        {
            Describe(typeof(k8s.Kubernetes), kubernetes.BaseUri.ToString()),
            Describe(typeof(YamlDotNet.Serialization.Deserializer), "yaml"),
            Describe(typeof(DockerClient), dockerEndpoint.ToString()),
            Describe(typeof(LibGit2Sharp.Repository), LibGit2Sharp.GlobalSettings.Version.ToString()),
        };
    }

    private static string Describe(Type type, string detail)
    {
        var assembly = type.Assembly;
        var context = System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(assembly)?.Name ?? "unknown";
        return $"{assembly.GetName().Name} {assembly.GetName().Version} [{context}] {detail}";
    }
}
