using System.Security.Cryptography;
using System.Text;

namespace DeploymentRollback.Engine;

/// <summary>
/// Checks that an inbound alert comes from a sender that knows a shared secret, before its body is parsed.
/// Two ways, both compared in constant time:
/// <list type="bullet">
/// <item>a bearer token: the header "Authorization: Bearer &lt;token&gt;" (Alertmanager's http_config authorization,
/// Grafana's Authorization header settings);</item>
/// <item>an HMAC-SHA256 of the raw body with the secret as key, in the header X-Hub-Signature-256 as
/// "sha256=&lt;64 hex digits&gt;" (GitHub's style), or in X-Signature as 64 hex digits or as Base64, with or without the
/// "sha256=" prefix; another header may be named.</item>
/// </list>
/// The signature is over the body's bytes exactly as received: re-encoded JSON (other spacing, other key order) fails.
/// </summary>
public static class AlertAuthentication
{
    public const string HubSignatureHeader = "X-Hub-Signature-256";
    public const string SignatureHeader = "X-Signature";
    public const string AuthorizationHeader = "Authorization";
    private const string SignaturePrefix = "sha256=";
    private const string BearerScheme = "Bearer ";

    /// <summary>Whether an Authorization header value carries the expected bearer token.</summary>
    public static bool BearerTokenMatches(string? authorization, string expectedToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedToken);
        if (authorization is null || !authorization.TrimStart().StartsWith(BearerScheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = authorization.TrimStart()[BearerScheme.Length..].Trim();
        // Hashing first makes the comparison take the same time whatever the lengths.
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(expectedToken)));
    }

    /// <summary>AlertTokenInvalid unless the request's Authorization header carries the expected bearer token.</summary>
    public static void DemandBearerToken(IReadOnlyDictionary<string, string> headers, string expectedToken)
    {
        if (!BearerTokenMatches(Header(headers, AuthorizationHeader), expectedToken))
        {
            throw new RollbackException(ErrorIds.AlertTokenInvalid, RollbackErrorKind.PermissionDenied,
                "The alert was refused: it has no Authorization header with the expected bearer token. Configure the sender to send 'Authorization: Bearer <token>' with the shared token.");
        }
    }

    /// <summary>The signature header value a sender would send for this body: sha256=&lt;hex&gt;.</summary>
    public static string Sign(ReadOnlySpan<byte> body, ReadOnlySpan<byte> secret) =>
        SignaturePrefix + Convert.ToHexString(HMACSHA256.HashData(secret, body)).ToLowerInvariant();

    /// <summary>Whether a signature header value (sha256=&lt;hex&gt;, hex or Base64) is the HMAC-SHA256 of the body with the secret.</summary>
    public static bool SignatureMatches(ReadOnlySpan<byte> body, string? signature, ReadOnlySpan<byte> secret)
    {
        if (secret.IsEmpty || Decode(signature) is not { } given)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(secret, body), given);
    }

    /// <summary>
    /// AlertSignatureInvalid unless the body carries a valid signature: in the named header, else in X-Hub-Signature-256,
    /// else in X-Signature.
    /// </summary>
    public static void DemandSignature(ReadOnlySpan<byte> body, IReadOnlyDictionary<string, string> headers, ReadOnlySpan<byte> secret, string? headerName = null)
    {
        var names = headerName is null ? new[] { HubSignatureHeader, SignatureHeader } : new[] { headerName };
        var name = names.FirstOrDefault(n => Header(headers, n) is not null);
        if (name is null)
        {
            throw new RollbackException(ErrorIds.AlertSignatureInvalid, RollbackErrorKind.PermissionDenied,
                $"The alert was refused: it is not signed (no {string.Join(" or ", names)} header). Configure the sender to sign the body with HMAC-SHA256 and the shared secret, " +
                $"sending '{HubSignatureHeader}: sha256=<hex>' or '{SignatureHeader}: <hex or Base64>'.");
        }

        if (!SignatureMatches(body, Header(headers, name), secret))
        {
            throw new RollbackException(ErrorIds.AlertSignatureInvalid, RollbackErrorKind.PermissionDenied,
                $"The alert was refused: its {name} signature does not match the body. The body must reach this command byte for byte as it was signed, " +
                "and the sender must use the same secret (HMAC-SHA256).");
        }
    }

    private static string? Header(IReadOnlyDictionary<string, string> headers, string name) =>
        headers.FirstOrDefault(h => h.Key.Trim().Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>The 32 bytes of an HMAC-SHA256 written as hex (with or without sha256=) or Base64, else null.</summary>
    private static byte[]? Decode(string? signature)
    {
        var text = signature?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (text.StartsWith(SignaturePrefix, StringComparison.OrdinalIgnoreCase))
        {
            text = text[SignaturePrefix.Length..];
        }

        if (text.Length == 64 && text.All(Uri.IsHexDigit))
        {
            return Convert.FromHexString(text);
        }

        var buffer = new byte[48];
        return Convert.TryFromBase64String(text, buffer, out var written) && written == 32 ? buffer[..32] : null;
    }
}
