import API
import ArgumentParser
import Essentials

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Mint an HS256 session token with JWT_SECRET.")
    @OptionGroup var tokens: TokenOptions
    @Option(help: "The token's sub (user id).") var user: String
    @Option(help: "Lifetime in seconds.") var ttl: Double = 3600

    func run() throws {
        guard let secret = tokens.secret else { throw ValidationError("JWT_SECRET (or --jwt-secret) is required to mint a token") }
        print(
            SessionTokenVerifier.mintHS256(
                secret: Array(secret.utf8), userID: user, audience: tokens.audience, now: Clocks.wallSeconds(), ttlSeconds: ttl))
    }
}
