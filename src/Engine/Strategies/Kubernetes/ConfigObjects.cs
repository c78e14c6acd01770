using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;

namespace DeploymentRollback.Engine.Kubernetes;

/// <summary>What the verified-good snapshot records of one ConfigMap or Secret: its content hash and the in-cluster copy holding that content.</summary>
internal sealed record ConfigSnapshot(string Kind, string Name, string Hash, string Copy);

/// <summary>
/// ConfigMaps and Secrets a pod template references. Their verified-good content is kept as immutable copies in the
/// cluster itself (a Secret's values never leave it: no file, log or report holds them); restoring replaces the live
/// object's data with the copy's, after copying the failed content aside the same way.
/// </summary>
internal static class ConfigObjects
{
    public const string CopyOfLabel = "deployment-rollback.io/copy-of";
    public const string CopyKindLabel = "deployment-rollback.io/copy";

    public static async Task<(string Hash, IDictionary<string, string>? Data, IDictionary<string, byte[]>? Binary)?> ReadAsync(KubeConnection connection, string kind, string name, CancellationToken cancellation)
    {
        try
        {
            if (kind == "Secret")
            {
                var secret = await connection.Client.CoreV1.ReadNamespacedSecretAsync(name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
                return (HashOf(null, secret.Data), null, secret.Data);
            }

            var map = await connection.Client.CoreV1.ReadNamespacedConfigMapAsync(name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            return (HashOf(map.Data, map.BinaryData), map.Data, map.BinaryData);
        }
        catch (Exception e) when (KubeConnection.IsStatus(e, HttpStatusCode.NotFound))
        {
            return null;
        }
    }

    /// <summary>Makes (or finds) the immutable copy of the object's current content; returns null when the object does not exist.</summary>
    public static async Task<ConfigSnapshot?> CopyAsync(KubeConnection connection, string kind, string name, string purpose, CancellationToken cancellation)
    {
        var current = await ReadAsync(connection, kind, name, cancellation).ConfigureAwait(false);
        if (current is null)
        {
            return null;
        }

        var (hash, data, binary) = current.Value;
        var copyName = CopyName(name, purpose, hash);
        var metadata = new V1ObjectMeta
        {
            Name = copyName,
            NamespaceProperty = connection.Namespace,
            Labels = new Dictionary<string, string> { [CopyOfLabel] = Label(name), [CopyKindLabel] = purpose },
            Annotations = new Dictionary<string, string> { ["deployment-rollback.io/original"] = name },
        };
        try
        {
            if (kind == "Secret")
            {
                await connection.Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = metadata, Data = binary, Immutable = true }, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            }
            else
            {
                await connection.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = metadata, Data = data, BinaryData = binary, Immutable = true }, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (KubeConnection.IsStatus(e, HttpStatusCode.Conflict))
        {
            // The same content was copied before: the name carries its hash.
        }

        return new ConfigSnapshot(kind, name, hash, copyName);
    }

    /// <summary>Replaces the live object's data with the copy's; the live object's resourceVersion guards against a concurrent change.</summary>
    public static async Task RestoreAsync(KubeConnection connection, ConfigSnapshot snapshot, CancellationToken cancellation)
    {
        if (snapshot.Kind == "Secret")
        {
            var copy = await connection.Client.CoreV1.ReadNamespacedSecretAsync(snapshot.Copy, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            var live = await connection.Client.CoreV1.ReadNamespacedSecretAsync(snapshot.Name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            live.Data = copy.Data;
            live.StringData = null;
            await connection.Client.CoreV1.ReplaceNamespacedSecretAsync(live, snapshot.Name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
        }
        else
        {
            var copy = await connection.Client.CoreV1.ReadNamespacedConfigMapAsync(snapshot.Copy, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            var live = await connection.Client.CoreV1.ReadNamespacedConfigMapAsync(snapshot.Name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            live.Data = copy.Data;
            live.BinaryData = copy.BinaryData;
            await connection.Client.CoreV1.ReplaceNamespacedConfigMapAsync(live, snapshot.Name, connection.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>A ConfigMap's content, or a Secret's keys with hashes of their values, for the checkpoint.</summary>
    public static async Task<string?> DescribeForCheckpointAsync(KubeConnection connection, ConfigReference reference, CancellationToken cancellation)
    {
        var current = await ReadAsync(connection, reference.Kind, reference.Name, cancellation).ConfigureAwait(false);
        if (current is null)
        {
            return null;
        }

        var (hash, data, binary) = current.Value;
        object shown = reference.Kind == "Secret"
            ? new { kind = "Secret", name = reference.Name, hash, keys = (binary ?? new Dictionary<string, byte[]>()).ToDictionary(p => p.Key, p => "sha256:" + Convert.ToHexString(SHA256.HashData(p.Value))[..16].ToLowerInvariant()) }
            : new { kind = "ConfigMap", name = reference.Name, hash, data, binaryKeys = binary?.Keys };
        return JsonSerializer.Serialize(shown, IndentedJson.Options);
    }

    public static string HashOf(IDictionary<string, string>? data, IDictionary<string, byte[]>? binary)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in (data ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append("d:").Append(key).Append('=').Append(Convert.ToBase64String(Encoding.UTF8.GetBytes(value))).Append('\n');
        }

        foreach (var (key, value) in (binary ?? new Dictionary<string, byte[]>()).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append("b:").Append(key).Append('=').Append(Convert.ToBase64String(value)).Append('\n');
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..10].ToLowerInvariant();
    }

    private static string CopyName(string name, string purpose, string hash)
    {
        var suffix = $"-{purpose}-{hash}";
        return (name.Length + suffix.Length > 253 ? name[..(253 - suffix.Length)] : name) + suffix;
    }

    // Label values are at most 63 characters.
    private static string Label(string name) => name.Length > 63 ? name[..63].TrimEnd('-', '.', '_') : name;
}
