"""Contents of the PDF and Word documents of the `pensionnes` corpus (see build.py)."""

DISCLAIMER = ("Ce document est fourni à titre d'information. Seuls les textes législatifs et réglementaires en "
              "vigueur font foi. La CNSS ne saurait être tenue pour responsable d'une interprétation erronée de "
              "son contenu ; les montants et délais indiqués peuvent être modifiés par voie réglementaire.")

VIEILLESSE = [
    ("title", "Guide de la pension de vieillesse"),
    ("subtitle", "Direction des Pensions et Rentes — édition 2026 — à l'intention des assurés qui préparent "
                 "leur départ à la retraite"),
    ("p", "La pension de vieillesse est une somme versée à vie au travailleur salarié qui a atteint l'âge de la "
          "retraite et a cotisé suffisamment longtemps à la CNSS. Ce guide présente les conditions, le mode de "
          "calcul et les démarches. Les départs avant l'âge normal et les carrières trop courtes pour une "
          "pension font l'objet d'une fiche séparée."),
    ("box", "Ce guide concerne les salariés du secteur privé et les agents contractuels affiliés à la CNSS. "
            "Les fonctionnaires titulaires relèvent du régime des pensions de l'État, géré par le Trésor : "
            "la CNSS ne traite pas leurs dossiers."),
    ("h1", "1. Les conditions"),
    ("p", "Trois conditions doivent être remplies en même temps :"),
    ("ol", [
        "avoir atteint l'âge de 60 ans ;",
        "totaliser au moins 180 mois d'assurance (15 ans) à la CNSS, en une ou plusieurs périodes, chez "
        "un ou plusieurs employeurs ;",
        "avoir cessé toute activité salariée.",
    ]),
    ("p", "Sont comptés comme mois d'assurance : les mois de travail salarié déclarés par l'employeur, les mois "
          "cotisés au titre de l'assurance volontaire, ainsi que les périodes assimilées — congé de maternité "
          "indemnisé, arrêt de travail indemnisé à la suite d'un accident du travail, période de perception "
          "d'une pension d'invalidité."),
    ("h1", "2. Le calcul de la pension"),
    ("h2", "Le salaire mensuel moyen"),
    ("p", "La pension est calculée à partir du salaire mensuel moyen (SMM) : la moyenne mensuelle des salaires "
          "soumis à cotisation des 5 meilleures années parmi les 15 dernières années d'assurance. Les salaires "
          "pris en compte sont ceux que l'employeur a déclarés, dans la limite du plafond de cotisation."),
    ("h2", "Le taux"),
    ("p", "Le taux de la pension est de 40 % du SMM pour 180 mois d'assurance. Il est augmenté de 1,5 % pour "
          "chaque période complète de 12 mois d'assurance au-delà de 180 mois, sans pouvoir dépasser 80 %."),
    ("table", ["Durée d'assurance", "Taux", "Pension pour un SMM de 400 000 FCFA"], [
        ["15 ans (180 mois)", "40 %", "160 000 FCFA par mois"],
        ["20 ans (240 mois)", "47,5 %", "190 000 FCFA par mois"],
        ["25 ans (300 mois)", "55 %", "220 000 FCFA par mois"],
        ["30 ans (360 mois)", "62,5 %", "250 000 FCFA par mois"],
        ["35 ans (420 mois)", "70 %", "280 000 FCFA par mois"],
        ["40 ans (480 mois)", "77,5 %", "310 000 FCFA par mois"],
    ]),
    ("p", "La pension ne peut pas être inférieure à un minimum de 80 000 FCFA par mois. Les mois incomplets "
          "au-delà de la dernière période de 12 mois ne sont pas pris en compte dans le taux."),
    ("h1", "3. Préparer son dossier à partir de 55 ans"),
    ("p", "Une carrière mal enregistrée est la première cause de retard dans le paiement des pensions. À partir "
          "de 55 ans, demandez une reconstitution de carrière à votre agence : un agent vérifie avec vous, "
          "employeur par employeur, les périodes inscrites à votre compte. Les périodes manquantes peuvent être "
          "ajoutées sur présentation des certificats de travail et des bulletins de paie correspondants. "
          "Cette vérification est gratuite et ne vaut pas demande de pension."),
    ("h1", "4. La demande de pension"),
    ("p", "Le dossier est déposé à l'agence CNSS du lieu de résidence, de préférence 6 mois avant le 60e "
          "anniversaire. Il comprend :"),
    ("ul", [
        "le formulaire « Demande de pension de vieillesse », signé par l'assuré ;",
        "la copie intégrale de l'acte de naissance et une copie de la pièce d'identité ;",
        "les certificats de travail de tous les employeurs et les 3 derniers bulletins de paie ;",
        "l'attestation de cessation d'activité délivrée par le dernier employeur ;",
        "la copie intégrale de l'acte de mariage pour l'assuré marié, et les actes de naissance des "
        "enfants de moins de 16 ans ;",
        "deux photos d'identité récentes et un RIB au nom de l'assuré.",
    ]),
    ("p", "Le dossier est étudié en 3 mois environ lorsqu'il est complet. L'assuré reçoit une notification "
          "indiquant le montant de sa pension et sa date d'effet, ainsi que sa carte de pensionné, qui porte "
          "son numéro de pension."),
    ("h2", "Date d'effet"),
    ("p", "La pension est due à partir du premier jour du mois qui suit le 60e anniversaire ou, si elle est "
          "postérieure, la date de cessation d'activité. Lorsque la demande est déposée plus de 12 mois après "
          "la cessation d'activité, la pension ne prend effet qu'au premier jour du mois qui suit la demande."),
    ("h1", "5. Travailler après 60 ans"),
    ("p", "L'assuré qui continue de travailler après 60 ans sans demander sa pension continue de cotiser : "
          "les mois supplémentaires s'ajoutent à sa durée d'assurance et augmentent le taux de sa future "
          "pension, dans la limite de 80 %."),
    ("p", "Le pensionné de vieillesse qui reprend une activité salariée après la liquidation de sa pension "
          "continue de percevoir celle-ci. Il doit signaler sa reprise à la CNSS ; les cotisations versées sur "
          "ce nouvel emploi n'augmentent pas la pension déjà liquidée."),
    ("h1", "6. Questions fréquentes"),
    ("h2", "J'ai perdu ma carte de pensionné."),
    ("p", "Faites une déclaration de perte au commissariat, puis demandez un duplicata à votre agence "
          "(2 000 FCFA, une photo d'identité). Votre pension continue d'être payée normalement."),
    ("h2", "La CNSS rembourse-t-elle mes frais médicaux de retraité ?"),
    ("p", "Non. La pension de la CNSS est un revenu de remplacement ; la prise en charge des soins des "
          "retraités relève de la CNAMGS."),
    ("small", DISCLAIMER),
]

INVALIDITE = [
    ("title", "La pension d'invalidité"),
    ("subtitle", "Fiche Pensions n° 3 — Direction des Pensions et Rentes — janvier 2026"),
    ("p", "La pension d'invalidité remplace en partie le salaire de l'assuré qui, à la suite d'une maladie ou "
          "d'un accident de la vie courante, ne peut plus travailler normalement avant d'avoir atteint l'âge de "
          "la retraite. Lorsque l'incapacité résulte d'un accident du travail ou d'une maladie professionnelle, "
          "ce n'est pas une pension d'invalidité qui est versée mais une rente d'accident du travail, présentée "
          "dans une autre fiche."),
    ("h1", "Conditions d'attribution"),
    ("table", ["Condition", "Ce qui est exigé"], [
        ["Âge", "avoir moins de 60 ans à la date de la demande"],
        ["État de santé", "une invalidité réduisant d'au moins deux tiers la capacité de travail ou de gain, "
                          "reconnue par le médecin-conseil de la CNSS"],
        ["Durée d'assurance", "au moins 60 mois d'assurance, dont 6 mois au cours des 12 mois qui précèdent "
                              "le début de l'incapacité"],
        ["Cas de l'accident", "si l'invalidité résulte d'un accident non professionnel, aucune durée "
                              "d'assurance n'est exigée : il suffit d'être immatriculé et salarié à la date "
                              "de l'accident"],
    ]),
    ("h1", "Comment l'invalidité est-elle reconnue ?"),
    ("ol", [
        "L'assuré (ou un proche) dépose à l'agence le formulaire « Demande de pension d'invalidité » avec un "
        "rapport médical détaillé de son médecin traitant, sous pli fermé à l'attention du médecin-conseil.",
        "Le médecin-conseil convoque l'assuré pour un examen ; il peut demander des examens complémentaires "
        "ou l'avis d'un spécialiste. Les frais de ces examens demandés par la CNSS sont à sa charge.",
        "Le dossier est soumis à la commission médicale de la CNSS, qui fixe le degré d'invalidité.",
        "La décision est notifiée à l'assuré dans un délai de 3 mois suivant le dépôt du dossier complet. "
        "En cas de désaccord sur l'appréciation médicale, l'assuré peut demander une expertise médicale "
        "dans les 2 mois qui suivent la notification.",
    ]),
    ("p", "Pièces administratives à joindre : pièce d'identité, certificats de travail, 3 derniers bulletins de "
          "paie, attestation d'arrêt de travail de l'employeur, RIB."),
    ("h1", "Montant"),
    ("p", "La pension d'invalidité est calculée comme une pension de vieillesse (taux de 40 % du salaire mensuel "
          "moyen, augmenté de 1,5 % par période de 12 mois au-delà de 180 mois). Mais l'assuré qui compte moins "
          "de 180 mois d'assurance est considéré comme en ayant 180 : la pension d'invalidité est donc au moins "
          "égale à 40 % du salaire mensuel moyen, avec un minimum de 80 000 FCFA par mois."),
    ("h2", "Majoration pour tierce personne"),
    ("p", "Si l'état de l'invalide l'oblige à avoir recours à l'aide d'une autre personne pour les actes "
          "ordinaires de la vie (se lever, se laver, s'habiller, se nourrir), la pension est majorée de 40 %. "
          "Cette majoration est accordée sur avis du médecin-conseil et réexaminée à chaque révision."),
    ("h1", "Révision, reprise du travail et suppression"),
    ("ul", [
        "L'état de l'invalide est réexaminé tous les 2 ans par le médecin-conseil. La pension peut être "
        "maintenue, réduite ou supprimée selon l'évolution de son état.",
        "La pension est supprimée si la réduction de capacité de travail devient inférieure à 50 %.",
        "L'invalide peut reprendre une activité légère : la pension est maintenue tant que le total de la "
        "pension et du nouveau salaire ne dépasse pas le salaire mensuel moyen qui a servi au calcul ; "
        "au-delà, la pension est réduite de l'excédent.",
        "La pension est suspendue si l'invalide refuse sans motif valable de se présenter aux contrôles "
        "médicaux.",
    ]),
    ("h1", "À 60 ans : le passage à la pension de vieillesse"),
    ("p", "Au premier jour du mois qui suit le 60e anniversaire, la pension d'invalidité est remplacée "
          "automatiquement par une pension de vieillesse. Aucune démarche n'est nécessaire et il n'y a pas "
          "d'interruption de paiement. Le montant de la pension de vieillesse ne peut pas être inférieur à celui "
          "de la pension d'invalidité qu'elle remplace ; la majoration pour tierce personne est maintenue."),
    ("h1", "Questions fréquentes"),
    ("h2", "Je suis en arrêt maladie depuis longtemps. Quand dois-je demander la pension d'invalidité ?"),
    ("p", "Dès que votre médecin estime que votre état est stabilisé et que vous ne pourrez pas reprendre "
          "votre emploi. Il n'est pas nécessaire d'attendre la fin de votre contrat de travail."),
    ("h2", "La pension d'invalidité est-elle payée à vie ?"),
    ("p", "Elle est payée tant que les conditions médicales sont remplies, puis remplacée par la pension de "
          "vieillesse à 60 ans, qui est viagère."),
    ("small", DISCLAIMER),
]

DECES = [
    ("title", "Décès d'un pensionné : les démarches de la famille"),
    ("subtitle", "Fiche pratique — Direction des Pensions et Rentes — mise à jour novembre 2025"),
    ("p", "La perte d'un proche est une épreuve. Cette fiche indique aux familles les démarches à accomplir "
          "auprès de la CNSS lorsqu'un titulaire de pension ou de rente décède, afin d'éviter les paiements indus "
          "et de faire valoir les droits de chacun."),
    ("h1", "1. Déclarer le décès à la CNSS"),
    ("p", "Le décès doit être signalé à l'agence CNSS qui gère la pension dans les 30 jours qui suivent le "
          "décès. La déclaration peut être faite par tout membre de la famille ou par l'employeur du conjoint, "
          "sur présentation de :"),
    ("ul", [
        "l'acte de décès (ou, à défaut, le certificat de décès délivré par l'hôpital, l'acte devant "
        "suivre) ;",
        "la carte de pensionné du défunt ;",
        "la pièce d'identité du déclarant et un document indiquant son lien avec le défunt.",
    ]),
    ("p", "Pour un pensionné décédé à l'étranger, l'acte de décès local est accepté s'il est légalisé par "
          "l'ambassade ou le consulat du Gabon, ou transcrit sur les registres de l'état civil gabonais."),
    ("h1", "2. L'arrêt des paiements et les sommes versées en trop"),
    ("p", "La pension est due jusqu'au dernier jour du mois au cours duquel le décès est survenu. Les sommes "
          "versées pour les mois suivants sont des trop-perçus : elles n'appartiennent pas à la famille et "
          "doivent être remboursées à la CNSS."),
    ("ul", [
        "Si le décès est déclaré rapidement, la CNSS demande à la banque de lui restituer directement le "
        "virement reçu après le décès.",
        "Si les sommes ont déjà été retirées, les héritiers doivent les rembourser. Un échéancier de "
        "remboursement peut être accordé sur demande.",
        "Continuer à retirer la pension d'une personne décédée expose son auteur à des poursuites pénales "
        "pour escroquerie.",
    ]),
    ("h1", "3. Les sommes restant dues au défunt"),
    ("p", "Inversement, la pension du ou des mois écoulés entre la dernière échéance payée et la date du décès "
          "reste due : ce sont les arrérages restant dus au décès. Par exemple, pour un pensionné décédé le "
          "10 février, la pension de janvier et de février n'a pas encore été payée si l'échéance du trimestre "
          "n'était pas encore intervenue : elle est due à ses héritiers."),
    ("p", "Ces arrérages sont versés aux héritiers, sur présentation d'un acte de notoriété ou d'un jugement "
          "d'hérédité désignant les héritiers, et d'un RIB du représentant des héritiers. La demande doit être "
          "faite dans les 2 ans qui suivent le décès."),
    ("h1", "4. L'allocation d'obsèques"),
    ("p", "La CNSS participe aux frais funéraires d'un titulaire de pension de vieillesse, de pension anticipée "
          "ou de pension d'invalidité, par une allocation d'obsèques forfaitaire de 200 000 FCFA. Elle est "
          "versée à la personne qui a effectivement payé les frais des obsèques, même si elle n'est pas un "
          "membre de la famille."),
    ("ul", [
        "Formulaire « Demande d'allocation d'obsèques » ;",
        "acte de décès ;",
        "factures acquittées des frais funéraires (pompes funèbres, cercueil, transport du corps) au nom du "
        "demandeur ;",
        "pièce d'identité et RIB ou numéro mobile money du demandeur.",
    ]),
    ("p", "La demande doit être déposée dans les 6 mois qui suivent le décès."),
    ("h1", "5. Et ensuite ? Les droits du conjoint et des enfants"),
    ("p", "Le conjoint survivant et les enfants à charge du défunt peuvent avoir droit à une pension de "
          "survivants. Cette demande est distincte de la déclaration de décès : les conditions, les montants et "
          "les pièces sont présentés dans la fiche consacrée à la pension de survivants."),
    ("h1", "Récapitulatif"),
    ("table", ["Démarche", "Qui", "Délai"], [
        ["Déclarer le décès", "tout membre de la famille", "30 jours après le décès"],
        ["Rembourser les trop-perçus", "les héritiers", "dès réception de la notification"],
        ["Demander les arrérages restant dus", "les héritiers", "2 ans après le décès"],
        ["Demander l'allocation d'obsèques", "la personne qui a payé les obsèques", "6 mois après le décès"],
    ]),
    ("box", "La CNSS n'intervient pas dans le partage des biens du défunt ni dans les litiges familiaux : elle "
            "verse les prestations aux bénéficiaires désignés par les textes et les décisions de justice."),
    ("small", DISCLAIMER),
]

RENTE_AT = [
    ("title", "Rente d'accident du travail et de maladie professionnelle"),
    ("subtitle", "Direction des Risques Professionnels — guide de la victime — édition 2026"),
    ("p", "Après un accident du travail ou une maladie professionnelle, la victime est d'abord soignée et "
          "reçoit des indemnités journalières pendant son arrêt de travail. Lorsque son état est stabilisé "
          "(consolidation), il peut lui rester des séquelles qui réduisent durablement sa capacité de travail : "
          "la CNSS l'indemnise alors par une indemnité en capital ou par une rente à vie. Ce guide explique "
          "comment elles sont fixées et versées."),
    ("h1", "1. La consolidation et le taux d'incapacité"),
    ("p", "À la fin des soins, le médecin traitant établit un certificat médical final indiquant la date de "
          "consolidation. Le médecin-conseil de la CNSS examine ensuite la victime et fixe son taux "
          "d'incapacité permanente partielle (IPP), exprimé en pourcentage, en tenant compte de la nature des "
          "séquelles, de l'âge, des aptitudes et de la qualification professionnelle de la victime."),
    ("p", "Le taux est notifié par lettre recommandée ou remise en main propre. La victime qui le conteste peut "
          "demander une expertise médicale dans les 2 mois qui suivent la notification."),
    ("h1", "2. Taux inférieur à 10 % : l'indemnité en capital"),
    ("p", "Lorsque le taux d'incapacité est inférieur à 10 %, la victime ne reçoit pas de rente mais une "
          "indemnité en capital, versée en une seule fois. Son montant est égal à trois fois le montant annuel "
          "de la rente qui correspondrait à ce taux. Elle est payée dans le mois qui suit la notification du "
          "taux, si la victime ne l'a pas contesté."),
    ("h1", "3. Taux de 10 % ou plus : la rente"),
    ("p", "À partir de 10 % d'incapacité, la victime a droit à une rente viagère. Son montant annuel est égal au "
          "salaire annuel de référence multiplié par le taux « utile », obtenu en :"),
    ("ul", [
        "réduisant de moitié la partie du taux d'incapacité qui ne dépasse pas 50 % ;",
        "augmentant de moitié la partie du taux qui dépasse 50 %.",
    ]),
    ("table", ["Taux d'incapacité", "Taux utile", "Rente annuelle pour un salaire annuel de 3 600 000 FCFA"], [
        ["10 %", "5 %", "180 000 FCFA"],
        ["30 %", "15 %", "540 000 FCFA"],
        ["50 %", "25 %", "900 000 FCFA"],
        ["60 %", "40 %", "1 440 000 FCFA"],
        ["80 %", "70 %", "2 520 000 FCFA"],
        ["100 %", "100 %", "3 600 000 FCFA"],
    ]),
    ("p", "Le salaire annuel de référence est le total des salaires perçus par la victime chez son ou ses "
          "employeurs pendant les 12 mois qui ont précédé l'accident, dans la limite de 18 000 000 FCFA "
          "(douze fois le plafond mensuel de cotisation). Pour une victime employée depuis moins de 12 mois, le "
          "salaire est reconstitué à partir du salaire de la période travaillée."),
    ("p", "La rente prend effet le lendemain de la date de consolidation. Elle est versée chaque trimestre, aux "
          "mêmes dates que les pensions de la CNSS."),
    ("h1", "4. Révision de la rente"),
    ("p", "Le taux d'incapacité peut être révisé en cas d'aggravation ou d'amélioration de l'état de la victime :"),
    ("ul", [
        "à la demande de la victime, avec un certificat médical constatant l'aggravation ;",
        "à l'initiative du médecin-conseil, lors d'un contrôle.",
    ]),
    ("p", "La révision peut intervenir à tout moment pendant les 2 années qui suivent la consolidation, puis une "
          "fois par an au plus. En cas de rechute (réapparition de lésions nécessitant de nouveaux soins ou un "
          "nouvel arrêt), les soins et les indemnités journalières reprennent, puis le taux est réexaminé à la "
          "nouvelle consolidation."),
    ("h1", "5. Cumuls"),
    ("ul", [
        "La rente d'accident du travail se cumule intégralement avec un salaire : la victime peut reprendre "
        "un emploi, chez le même employeur ou ailleurs, sans réduction de sa rente.",
        "Elle se cumule aussi avec la pension de vieillesse : la rente n'est pas supprimée à 60 ans et "
        "continue d'être versée toute la vie.",
        "Elle ne se cumule pas avec une pension d'invalidité pour les mêmes séquelles.",
    ]),
    ("h1", "6. Conversion partielle en capital"),
    ("p", "Après 5 ans de versement, la victime dont le taux d'incapacité est inférieur à 50 % peut demander "
          "la conversion en capital d'un quart au plus de sa rente, pour un projet précis (achat d'un logement, "
          "création d'une activité). La demande est examinée par la commission des rentes ; la conversion est "
          "définitive."),
    ("p", "Si la victime décède des suites de l'accident ou de la maladie professionnelle, ses ayants droit "
          "doivent s'adresser à l'agence pour connaître les prestations auxquelles ils peuvent prétendre."),
    ("small", DISCLAIMER),
]

DOCUMENTS = [
    {"file": "guide_pension_vieillesse.pdf", "title": "Guide de la pension de vieillesse",
     "header": "CNSS Gabon — Guide de la pension de vieillesse", "blocks": VIEILLESSE},
    {"file": "pension_invalidite.docx", "title": "La pension d'invalidité",
     "header": "CNSS Gabon — Direction des Pensions et Rentes", "blocks": INVALIDITE},
    {"file": "deces_pensionne_demarches.docx", "title": "Décès d'un pensionné",
     "header": "CNSS Gabon — Direction des Pensions et Rentes", "blocks": DECES},
    {"file": "rente_accident_travail.pdf", "title": "Rente d'accident du travail",
     "header": "CNSS Gabon — Direction des Risques Professionnels", "blocks": RENTE_AT},
]
