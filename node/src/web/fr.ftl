# The web page's texts, in French. A second language is a second file
# with the same message ids (node/src/web/i18n.rs loads it).

site-name = Mutua
skip-link = Aller au contenu
nav-label = Menu principal
nav-search = Rechercher
nav-publish = Publier
nav-import = Importer ou exporter
nav-mine = Nos annonces
nav-signin = Se connecter
nav-requests-mine = Mes demandes
nav-requests-received = Demandes reçues
nav-signout = Se déconnecter
signed-in-as = Connecté(e) : { $name }, pour { $collectivity }
footer-accessibility = Accessibilité : partiellement conforme
footer-legal = Mentions légales
hosted-by = Service hébergé par { $operator }
title-suffix = Mutua, mutualisation entre collectivités

side-offer = Offre
side-need = Besoin
side-both = Offres et besoins
side-offers = Offres
side-needs = Besoins

kind-any = Tous les types
kind-skill = Compétence
kind-equipment = Matériel
kind-software = Logiciel
kind-hosted_service = Service hébergé
kind-premises = Locaux
kind-other = Autre

month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre

search-title = Rechercher une offre ou un besoin
search-legend = Critères de recherche
search-text = Mots-clés
search-text-hint = Par exemple : broyeur, DPO, nacelle
search-side = Annonces
search-kind = Type de ressource
search-near = Près de la commune
search-near-hint = Nom, code postal ou code INSEE. Laissez vide pour chercher partout.
search-radius = Rayon (km)
search-departement = Département
search-departement-hint = Par exemple : 33 ou 2A
search-epci = Intercommunalité (SIREN)
search-available = Disponible le
date-hint = Au format jj/mm/aaaa, par exemple 14/07/2027
search-submit = Rechercher
search-count = { $count ->
    [0] Aucune annonce ne correspond à ces critères.
    [one] 1 annonce trouvée.
   *[other] { $count } annonces trouvées.
}
search-count-more = { $count } annonces affichées ; d’autres suivent.
search-results = Résultats
search-next = Page suivante
search-first = Retour à la première page
search-error = La recherche n’a pas abouti : { $reason }
map-label = Carte des annonces trouvées ({ $count } points)
map-centre = Centre de la recherche
result-distance = à { $km } km
result-by = Publiée par { $collectivity }
result-at = Commune : { $commune }
availability-none = Disponibilité non précisée
availability-window = du { $from } au { $until }
available-label = Disponibilité

listing-title-fallback = Annonce
listing-kind = Type
listing-side = Nature
listing-by = Collectivité
listing-commune = Commune
listing-description = Description
listing-tags = Mots-clés
listing-capacity = Capacité
listing-area = Zone desservie
listing-area-own = La commune de la collectivité
listing-area-departements = Départements : { $list }
listing-area-communes = Communes : { $list }
listing-area-radius = Dans un rayon de { $km } km
listing-terms = Conditions
terms-free = Gratuit
terms-cost = Partage des frais : { $amount } € par { $per }
terms-convention = Une convention entre les collectivités est nécessaire.
terms-no-convention = Pas de convention nécessaire.
listing-contact = Contact
listing-published = Publiée le { $date }
listing-expires = Expire le { $date }
listing-version = Version { $version }
listing-missing = Cette annonce n’existe pas ou a été retirée.
listing-published-ok = Votre annonce est publiée. Les autres nœuds la reçoivent dans les minutes qui viennent.
listing-updated-ok = Votre annonce est modifiée.
listing-edit = Modifier l’annonce
listing-withdraw = Retirer l’annonce
listing-withdraw-hint = Le retrait est définitif : l’annonce disparaît sur tous les nœuds.
listing-withdrawn-ok = L’annonce est retirée.
need-matches = Offres qui pourraient répondre à ce besoin
need-matches-none = Aucune offre du même type n’a été trouvée pour l’instant.

publish-title = Publier une annonce
edit-title = Modifier l’annonce
publish-intro = Les champs marqués d’un astérisque (*) sont obligatoires.
field-required-mark = (obligatoire)
publish-collectivity = Au nom de
publish-side = Nature de l’annonce
publish-kind = Type de ressource
publish-title-field = Titre
publish-title-hint = Ce que vous proposez ou cherchez, en quelques mots.
publish-description = Description
publish-tags = Mots-clés
publish-tags-hint = Séparés par des virgules, par exemple : broyeur, espaces verts
publish-insee = Commune (code INSEE)
publish-insee-hint = 5 caractères, par exemple 33063 pour Bordeaux
publish-departements = Départements desservis
publish-departements-hint = Séparés par des virgules ; laissez vide pour la seule commune
publish-capacity = Capacité
publish-capacity-hint = Par exemple : 2 jours par mois, 1 appareil
publish-terms = Conditions
publish-free = Gratuit
publish-cost = Partage des frais
publish-amount = Montant en euros
publish-amount-hint = Par exemple : 12,50
publish-per = Par
publish-per-hint = Par exemple : jour, mois, utilisation
publish-convention = Une convention est nécessaire
publish-contact-role = Fonction à contacter
publish-contact-role-hint = Une fonction, jamais le nom d’une personne : par exemple « Secrétariat de mairie »
publish-contact-email = Adresse électronique
publish-contact-phone = Téléphone
publish-from = Disponible à partir du
publish-until = Jusqu’au
publish-submit = Publier
edit-submit = Enregistrer les modifications
errors-title = { $count ->
    [one] Le formulaire contient 1 erreur
   *[other] Le formulaire contient { $count } erreurs
}

form-required = Ce champ est obligatoire.
form-amount = Écrivez un montant en euros, par exemple 12,50.
form-date = Écrivez une date au format jj/mm/aaaa, par exemple 14/07/2027.
form-radius = Écrivez un nombre de kilomètres, par exemple 20.
form-dates-order = La date de fin doit venir après la date de début.
form-both-dates = Indiquez les deux dates, ou aucune.
form-contact-means = Indiquez une adresse électronique ou un numéro de téléphone (ou les deux).
form-collectivity = Vous ne pouvez pas publier au nom de cette collectivité.
form-side = Choisissez « offre » ou « besoin ».
form-kind = Choisissez un type de ressource dans la liste.

rule-too_short = Ce texte est trop court.
rule-too_long = Ce texte est trop long : raccourcissez-le.
rule-control_character = Ce texte contient un caractère de contrôle : retapez-le sans copier-coller.
rule-hidden_character = Ce texte contient un caractère invisible : retapez-le sans copier-coller.
rule-surrounding_space = Retirez les espaces au début et à la fin.
rule-required = Ce champ est obligatoire.
rule-duplicate = Cette valeur apparaît deux fois.
rule-out_of_range = Cette valeur sort des limites permises.
rule-empty_window = La date de fin doit venir après la date de début.
rule-email_syntax = Écrivez une adresse électronique complète, par exemple secretariat@mairie-exemple.fr.
rule-phone_syntax = Écrivez un numéro de téléphone, par exemple 05 56 00 00 00.
rule-url_syntax = Écrivez une adresse web complète, commençant par https://.
rule-invalid_insee = Le code INSEE compte 5 caractères, par exemple 33063 (Bordeaux) ou 2A004 (Ajaccio).
rule-unknown_commune = Aucune commune ne porte ce code INSEE dans le référentiel 2026.
rule-invalid_departement = Ce n’est pas un numéro de département (par exemple 33 ou 2A).
rule-unknown_departement = Ce n’est pas un département du référentiel 2026 (par exemple 33 ou 2A).
rule-unknown_epci = Aucune intercommunalité ne porte ce SIREN dans le référentiel 2026.
rule-expiry_too_far = Une annonce expire au plus tard 400 jours après sa publication.
rule-expired = Cette date est déjà passée.
rule-window_in_past = Cette période de disponibilité est déjà passée.
rule-window_after_expiry = Cette période commence après l’expiration de l’annonce.
rule-too_many_items = Cette liste compte trop d’éléments.
rule-not_a_member = Votre collectivité n’a pas de certificat d’adhésion valide : adressez-vous à votre syndicat.
rule-unknown_place = Aucune commune ne correspond à ce nom, ce code postal ou ce code INSEE.
rule-ambiguous_place = Plusieurs communes portent ce nom : précisez le code postal ou le code INSEE.
rule-unknown_area = Ce code ne correspond à aucun territoire connu.
rule-no_coordinates = La position de cette commune est inconnue : cherchez sans rayon.
rule-other = Cette valeur n’est pas acceptée.

signin-title = Se connecter
signin-login = Identifiant
signin-password = Mot de passe
signin-submit = Se connecter
signin-failed = Identifiant ou mot de passe incorrect.
signin-limited = Trop de tentatives pour cet identifiant. Réessayez dans 15 minutes.
signin-limited-address = Trop de tentatives de connexion depuis votre réseau. Réessayez dans 15 minutes.
signin-required = Connectez-vous pour consulter les annonces de la fédération.
signin-staff-only = Cette page est réservée aux agents des collectivités hébergées : connectez-vous.
signed-out-ok = Vous êtes déconnecté(e).
invitation-title = Choisir votre mot de passe
invitation-intro = Bienvenue, { $name }. Votre identifiant est « { $login } ». Choisissez un mot de passe d’au moins 12 caractères.
invitation-password = Nouveau mot de passe
invitation-confirm = Confirmez le mot de passe
invitation-submit = Enregistrer le mot de passe
invitation-invalid = Ce lien d’invitation n’est plus valable : demandez-en un nouveau à votre syndicat.
invitation-short = Le mot de passe doit compter au moins 12 caractères.
invitation-mismatch = Les deux mots de passe ne sont pas identiques.
invitation-done = Votre mot de passe est enregistré. Vous pouvez vous connecter.

csrf-title = Formulaire expiré
csrf-text = Ce formulaire a expiré ou ne vient pas de cette page. Revenez en arrière, rechargez la page et recommencez.
forbidden-title = Action non autorisée
forbidden-text = Vous ne pouvez agir qu’au nom de votre collectivité.
notfound-title = Page introuvable
notfound-text = Cette page n’existe pas. Revenez à la recherche.
error-title = Erreur
error-text = Une erreur est survenue sur le nœud ; réessayez dans un moment. Si elle persiste, prévenez votre syndicat.
back-to-search = Revenir à la recherche

a11y-title = Déclaration d’accessibilité
a11y-body =
    Ce nœud Mutua s’engage à rendre son service accessible, conformément à l’article 47 de la loi n° 2005-102 du 11 février 2005.
a11y-status-title = État de conformité
a11y-status = Ce service est partiellement conforme au référentiel général d’amélioration de l’accessibilité (RGAA 4.1) : aucun audit complet n’a encore été réalisé.
a11y-tests-title = Contrôles réalisés
a11y-tests = Chaque page est vérifiée automatiquement dans un navigateur par axe-core, et les parcours de recherche et de publication sont testés au clavier seul.
a11y-contact-title = Retour d’information et contact
a11y-contact = Si vous ne parvenez pas à accéder à un contenu ou à un service, contactez { $operator } pour être orienté vers une alternative accessible.
a11y-remedy-title = Voies de recours
a11y-remedy = Si vous n’obtenez pas de réponse, vous pouvez saisir le Défenseur des droits.
legal-title = Mentions légales
legal-operator-title = Hébergement et édition
legal-operator = Ce nœud est exploité par { $operator }. Les annonces sont publiées sous la responsabilité des collectivités qui les signent.
legal-data-title = Données personnelles
legal-data = Les annonces ne portent qu’un contact de fonction, jamais le nom d’une personne. Les comptes des agents (nom, identifiant, mot de passe chiffré) restent sur ce nœud et ne sont jamais transmis aux autres nœuds. Un cookie de session, strictement nécessaire, est déposé à la connexion ; aucun outil de mesure d’audience n’est utilisé.
legal-software = Logiciel libre Mutua, sous licence EUPL-1.2.
operator-unnamed = l’exploitant de ce nœud
invitation-invalid-page-title = Invitation expirée
invitation-invalid-page-text = Ce lien d’invitation n’est plus valable : demandez-en un nouveau à votre syndicat.
listing-missing-page-title = Annonce introuvable
listing-missing-page-text = Cette annonce n’existe pas, a expiré ou a été retirée.

import-title = Importer un tableur
import-intro = Publiez d’un coup les annonces d’un tableur : un fichier .csv, .ods (LibreOffice) ou .xlsx (Excel), une annonce par ligne sous une ligne d’en-tête. Les mêmes règles que la commande « mutua import » s’appliquent : chaque ligne est vérifiée avant toute publication, une ligne fautive n’est pas publiée du tout, et importer de nouveau le même fichier ne crée pas de doublon.
import-columns = Colonnes obligatoires : { $columns }.
import-file = Fichier
import-file-hint = .csv, .ods ou .xlsx, { $size } Mo au plus
import-dry-run = Vérifier seulement, sans rien publier
import-all-or-nothing = Ne rien publier si une ligne est refusée
import-submit = Importer
import-no-file = Choisissez le fichier à importer.
import-too-large = Ce fichier dépasse { $size } Mo : rien n’a été importé. Découpez-le en plusieurs fichiers, ou retirez les colonnes et les feuilles inutiles.
import-unreadable = L’envoi du fichier n’a pas abouti : rien n’a été importé. Réessayez.
import-file-refused = Ce fichier ne peut pas être importé : { $reason }. Rien n’a été publié.
import-report-title = Rapport d’import
import-summary = { $file } (lu comme { $format }) : { $summary }.
import-held = { $count ->
    [one] 1 ligne est refusée : rien n’a été publié (« Ne rien publier si une ligne est refusée »).
   *[other] { $count } lignes sont refusées : rien n’a été publié (« Ne rien publier si une ligne est refusée »).
}
import-dry-run-done = Vérification seulement : rien n’a été publié.
import-report-caption = Résultat de chaque ligne du fichier
import-line = Ligne
import-result = Résultat
import-detail = Détail
import-rejected = refusée
import-see = Voir l’annonce
import-again = Importer un autre fichier
export-title = Exporter nos annonces
export-intro = Téléchargez les annonces de votre collectivité dans les mêmes colonnes : modifiez le fichier puis importez-le de nouveau pour mettre les annonces à jour.
export-csv = Télécharger en CSV (pour Excel)
export-xlsx = Télécharger en classeur Excel (.xlsx)

lending-calendar = Calendrier des prêts
lending-mode = Réponse aux demandes
lending-mode-auto = Automatique : toute demande qui tient dans le calendrier est acceptée aussitôt
lending-mode-manual = Sur décision des services de la collectivité
lending-buffer = Délai entre deux prêts
lending-buffer-days = { $count ->
    [0] Aucun
    [one] 1 jour libre après chaque prêt
   *[other] { $count } jours libres après chaque prêt
}
lending-capacity = Prêtés à la fois
lending-capacity-units = { $count ->
    [one] 1 unité
   *[other] { $count } unités
}
lending-busy = Périodes réservées
lending-busy-none = Aucun prêt n’est prévu.
lending-used = { $used } sur { $capacity } unités prêtées
lending-free = Disponibilités jusqu’au { $until }
lending-free-none = Aucune disponibilité sur cette période.
lending-pending = { $count ->
    [one] 1 demande attend une réponse.
   *[other] { $count } demandes attendent une réponse.
}
lending-period = du { $from } au { $until }
lending-one-day = le { $day }

request-title = Demander un prêt
request-collectivity = Au nom de
request-first-day = Premier jour du prêt
request-last-day = Dernier jour du prêt
request-last-day-hint = Inclus. Au format jj/mm/aaaa, par exemple 15/07/2027
request-quantity = Quantité
request-quantity-hint = Nombre d’unités demandées ; 1 si vous laissez vide
request-purpose = Objet du prêt
request-purpose-hint = En une ligne, par exemple : fête de la musique, entretien des haies
request-contact-role = Fonction à contacter
request-submit = Envoyer la demande
request-error-past = Cette date est déjà passée : un prêt commence aujourd’hui au plus tôt.
request-error-quantity = Écrivez un nombre d’unités entre 1 et { $capacity }.
request-error-purpose = Dites en une ligne à quoi servira le prêt.
request-error-too-long = Ce texte dépasse { $max } caractères.
request-error-role = Indiquez une fonction d’au moins 2 caractères, par exemple « Services techniques ».
request-error-email = Cette adresse électronique n’est pas valide : elle s’écrit nom@domaine.fr.
request-error-refused = Le nœud a refusé la demande : { $detail }

requests-mine = Mes demandes
requests-received = Demandes reçues
requests-mine-none = Votre collectivité n’a fait aucune demande de prêt.
requests-received-none = Aucune demande de prêt n’a été reçue pour les offres de votre collectivité.
requests-count = { $count ->
    [one] 1 demande
   *[other] { $count } demandes
}
request-state = État
request-loan = Prêt
request-when = Période
request-borrower = Demandée par
request-made = Demandée le
request-terms-hash = Empreinte de la convention (SHA-256)
request-state-pending = En attente de réponse
request-state-accepted = Acceptée : le prêt est convenu
request-state-declined = Refusée : { $reason }
request-state-cancelled-owner = Annulée par la collectivité prêteuse
request-state-cancelled-borrower = Annulée par la collectivité emprunteuse
request-state-overruled = Acceptée puis écartée : une autre acceptation de la même collectivité l’emporte
request-state-words = { $state } (« { $words } »)
reason-conflict = les dates (avec le délai entre deux prêts) sont déjà prises
reason-over_capacity = la quantité dépasse ce que l’offre prête à la fois
reason-offer_changed = l’offre a changé depuis la demande
reason-not_lendable = l’offre est retirée, expirée ou inconnue
reason-too_late = le prêt a commencé ou la demande a expiré
reason-cancelled_by_borrower = l’emprunteur a annulé la demande
reason-refused = les services de la collectivité ont refusé
loan-handed-over = Remis à l’emprunteur
loan-returned-as-lent = Rendu dans l’état du prêt
loan-returned-damaged = Rendu endommagé
accept-terms = Convention de prêt (facultative)
accept-terms-hint = Le fichier reste chez vous : seule son empreinte accompagne l’acceptation.
accept-submit = Accepter la demande
decline-reason = Motif du refus
decline-text = Précision pour l’emprunteur (facultative)
decline-submit = Refuser la demande
cancel-submit = Annuler la demande
return-condition = État au retour
return-as-lent = Conforme : dans l’état du prêt
return-damaged = Endommagé
return-note = Remarque (obligatoire si endommagé)
return-note-required = Dites ce qui est endommagé.
return-submit = Enregistrer le retour
done-sent = Votre demande est envoyée. La collectivité prêteuse la reçoit dans les minutes qui viennent.
done-accepted = La demande est acceptée : le prêt est convenu.
done-declined = La demande est refusée.
done-cancelled = La demande est annulée.
done-returned = Le retour est enregistré.
action-accepted = Acceptation
action-declined = Refus
action-cancelled = Annulation
action-returned = Retour
action-refused-already_decided = Cette demande a déjà reçu une réponse.
action-refused-cannot_accept = Cette demande ne peut plus être acceptée (dates prises, quantité, offre modifiée ou retirée) : refusez-la en indiquant le motif.
action-refused-nothing_to_cancel = Cette demande n’est plus en cours : il n’y a rien à annuler.
action-refused-not_accepted = Un retour s’enregistre pour un prêt accepté.
action-refused-other = Le nœud a refusé cette action.
request-missing-title = Demande introuvable
request-missing-text = Aucune demande de ce numéro n’a été faite par votre collectivité ou pour ses offres.
