// Docker's API models mark every member nullable; for an existing container the engine always fills State and
// Config, so these files do not repeat null checks the engine's contract makes pointless.
#pragma warning disable CS8601, CS8602, CS8604

using Docker.DotNet;
using Docker.DotNet.Models;

namespace DeploymentRollback.Engine.Container;

/// <summary>
/// The create parameters for a container like another one but from another image: what the user set on the
/// container is kept; what merely came from the old image (command, entrypoint, env defaults, labels, health check,
/// working folder, user) is left for the new image to supply.
/// </summary>
internal static class ContainerRecreation
{
    public sealed record Parameters(CreateContainerParameters Create, IReadOnlyList<(string Network, EndpointSettings Endpoint)> ExtraNetworks);

    public static async Task<Parameters> BuildAsync(DockerClient client, ContainerInspectResponse old, string name, string image, CancellationToken cancellation)
    {
        var oldImage = (await client.Images.InspectImageAsync(old.Image, cancellation).ConfigureAwait(false)).Config;
        var config = old.Config;
        var create = new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Hostname = config.Hostname == old.ID[..Math.Min(12, old.ID.Length)] ? null : config.Hostname,
            Domainname = config.Domainname,
            User = config.User == oldImage?.User ? null : config.User,
            Env = config.Env?.Except(oldImage?.Env ?? new List<string>()).ToList(),
            Cmd = Same(config.Cmd, oldImage?.Cmd) ? null : config.Cmd,
            Entrypoint = Same(config.Entrypoint, oldImage?.Entrypoint) ? null : config.Entrypoint,
            Labels = config.Labels?.Where(l => oldImage?.Labels is null || !oldImage.Labels.TryGetValue(l.Key, out var v) || v != l.Value).ToDictionary(l => l.Key, l => l.Value),
            ExposedPorts = config.ExposedPorts,
            Healthcheck = SameHealthcheck(config.Healthcheck, oldImage?.Healthcheck) ? null : config.Healthcheck,
            WorkingDir = config.WorkingDir == oldImage?.WorkingDir ? null : config.WorkingDir,
            StopSignal = config.StopSignal == oldImage?.StopSignal ? null : config.StopSignal,
            StopTimeout = config.StopTimeout,
            Tty = config.Tty,
            OpenStdin = config.OpenStdin,
            StdinOnce = config.StdinOnce,
            Volumes = config.Volumes,
            HostConfig = old.HostConfig,
        };

        var extra = new List<(string, EndpointSettings)>();
        var mode = old.HostConfig?.NetworkMode ?? "default";
        if (mode is not ("host" or "none") && !mode.StartsWith("container:", StringComparison.Ordinal) && old.NetworkSettings?.Networks is { Count: > 0 } networks)
        {
            // The API takes one network at create time before 1.44; the rest are connected before the container starts.
            var shortId = old.ID[..Math.Min(12, old.ID.Length)];
            EndpointSettings Endpoint(EndpointSettings e) => new()
            {
                Aliases = e.Aliases?.Where(a => a != shortId && a != old.Config.Hostname).ToList(),
                IPAMConfig = e.IPAMConfig,
                Links = e.Links,
                DriverOpts = e.DriverOpts,
            };
            var first = networks.First();
            create.NetworkingConfig = new NetworkingConfig { EndpointsConfig = new Dictionary<string, EndpointSettings> { [first.Key] = Endpoint(first.Value) } };
            extra.AddRange(networks.Skip(1).Select(n => (n.Key, Endpoint(n.Value))));
        }

        return new Parameters(create, extra);
    }

    private static bool Same(IList<string>? a, IList<string>? b) => (a ?? new List<string>()).SequenceEqual(b ?? new List<string>());

    // Compared by content: the health check type differs between API model versions.
    private static bool SameHealthcheck(object? a, object? b) =>
        a is null || System.Text.Json.JsonSerializer.Serialize(a) == System.Text.Json.JsonSerializer.Serialize(b);
}
